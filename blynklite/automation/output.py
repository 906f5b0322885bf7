"""Frames the server sends on its own (Timers, Eventor, webhooks, reading widgets), routed as upstream
(spec/behaviours.md §2): to the hardware connections of (dashboard, device) when the frame fits the
device's buffer, and to the owner apps and the share apps of that dashboard.

Owns nothing; never stores a value (callers do that through `Server.pin_written`).
"""
from ..codec.body import PIN_LETTERS
from ..codec.commands import Command


def hardware_body(stream, value):
    """`<t>w\\0pin\\0value` for a data stream dict (`a` for a PWM stream, as upstream)."""
    letter = "a" if stream.get("pwmMode") else PIN_LETTERS[stream["pinType"]]
    return f"{letter}w\0{stream['pin']}\0{value}"


def to_devices(server, user, dash_id, device_ids, command, msg_id, body):
    """Deliver to every online connection of those devices; True when at least one took it."""
    user_session = server.hub.existing_session(user)
    if user_session is None:
        return False
    payload = body.encode("utf-8")
    delivered = False
    for hw in user_session.hardware:
        if hw.dash.id == dash_id and hw.device.id in device_ids:
            delivered |= hw.deliver(command, msg_id, payload)
    return delivered


def to_apps(server, user, dash_id, device_id, command, msg_id, body):
    server.forward_to_apps(user, dash_id, command, msg_id, f"{dash_id}-{device_id}\0{body}".encode("utf-8"))


def set_pin(server, user, dash, device_ids, stream, value, msg_id, source):
    """Store `value` on `stream` for each device, send it to the devices and the apps."""
    pin_type, pin = stream["pinType"], stream["pin"]
    for device_id in device_ids:
        server.pin_written(user, dash, device_id, pin_type, pin, value, source)
    body = hardware_body(stream, value)
    to_devices(server, user, dash.id, device_ids, Command.HARDWARE, msg_id, body)
    for device_id in device_ids:
        to_apps(server, user, dash.id, device_id, Command.HARDWARE, msg_id, body)
    dash.updated_at = server.reactor.wall_ms
    server.hub.dirty.add(user)
