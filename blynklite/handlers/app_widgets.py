"""Single widgets from the app (spec/app.md §3, §4.12): GET_WIDGET, SET_WIDGET_PROPERTY, and the values a
phone relays from a Bluetooth device (HARDWARE_RESEND_FROM_BLUETOOTH).

Owns: these three replies. Never does: forward anything to devices or other apps; upstream answers the
sender only (and the Bluetooth relay not at all on success).

Invariant: a property change is all or nothing: the value is converted before the widget changes.
"""
import json

from ..codec.body import parse_int, parse_pin, parse_pin_type, split
from ..codec.commands import Command, illegal_body, illegal_command
from . import app_profile, app_sharing, app_tiles, properties
from ..logger import get_logger
from ..model.watchers import BLUETOOTH

log = get_logger("blynklite.app")

# Every property name upstream's WidgetProperty knows (spec/app.md §5.4).
KNOWN_PROPERTIES = properties.EVERY_WIDGET | properties.SINGLE_PIN | frozenset(properties.BY_TYPE)
# The shortest Bluetooth relay upstream reads, `1-0\0vw\01\01` less one byte (its `length() < 8`).
MIN_RESEND_BODY = 8


def _widget_anywhere(dash, widget_id):
    widget = dash.widget(widget_id) or app_tiles.widget_in_tiles(dash, widget_id)
    if widget is None:
        raise illegal_command("no such widget")
    return widget


def get_widget(session, msg_id, text):
    parts = split(text)
    if len(parts) < 2:
        raise illegal_command("get widget needs dash id and widget id")
    dash = app_profile.dashboard_or_fail(session, parse_int(parts[0]))
    widget_id = app_tiles.parse_long(parts[1])
    widget = dash.widget(widget_id)
    if widget is None:
        raise illegal_command("no such widget")
    public = app_sharing.restricted_json_widget(widget)
    session.send(Command.GET_WIDGET, msg_id, json.dumps(public, ensure_ascii=False, separators=(",", ":")))


def set_widget_property(session, msg_id, text):
    parts = text.split("\0")
    if len(parts) != 4:
        raise illegal_body("set property needs dash id, widget id, property and value")
    dash_id, widget_id = parse_int(parts[0]), app_tiles.parse_long(parts[1])
    prop, value = parts[2], parts[3]
    if not prop or not value or prop not in KNOWN_PROPERTIES:
        raise illegal_body("empty or unknown property")
    dash = app_profile.dashboard_or_fail(session, dash_id)
    widget = _widget_anywhere(dash, widget_id)
    if not properties.accepts(widget, prop):
        raise illegal_body(f"{widget.get('type')} has no property {prop}")
    try:
        stored = properties.convert(prop, value)
    except ValueError:
        raise illegal_command("property value does not parse") from None
    properties.set_property(widget, prop, stored)
    dash.widgets_changed()
    app_profile._touch(session, dash)
    session.ok(msg_id)


def resend_from_bluetooth(session, msg_id, text):
    """A value a Bluetooth device gave the phone: stored as if the device had written it; no reply."""
    if len(text) < MIN_RESEND_BODY:
        raise illegal_command("bluetooth relay too short")
    head, sep, pin_command = text.partition("\0")
    dash_part, dash_sep, device_part = head.partition("-")
    if not sep or not dash_sep:
        log.info("%s: bluetooth relay without dashId-deviceId", session.describe())   # upstream: no reply
        return
    dash = app_profile.dashboard_or_fail(session, parse_int(dash_part))
    device_id = parse_int(device_part)
    if len(pin_command) < 2 or pin_command[1] != "w":
        return
    fields = pin_command.split("\0", 2)
    if len(fields) < 3 or not fields[0] or not fields[2]:
        raise illegal_command("bluetooth relay needs pin and value")
    pin_type, pin = parse_pin_type(fields[0][0]), parse_pin(fields[1])
    session.server.pin_written(session.user, dash, device_id, pin_type, pin, fields[2], BLUETOOTH, session)
    dash.updated_at = session.server.reactor.wall_ms
    session.server.hub.mark_dirty(session.user)


HANDLERS = {
    Command.GET_WIDGET: get_widget,
    Command.SET_WIDGET_PROPERTY: set_widget_property,
    Command.HARDWARE_RESEND_FROM_BLUETOOTH: resend_from_bluetooth,
}
