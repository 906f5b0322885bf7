"""The device side (spec/commands.md §4): HardwareSession and one handler per hardware command.

Hot path: a device's `vw` write → stored → forwarded to the apps of its dashboard with the device's
message id. The forwarded body is the device's raw bytes behind a cached `dashId-deviceId\\0` prefix.
"""
import math
import time

from ..codec import frames
from ..codec.body import parse_pin, split
from ..codec.commands import Command, Status, StatusError, illegal_body, illegal_command, not_allowed
from ..model.device import DEFAULT_BUFF_IN, OFFLINE, ONLINE
from ..sessions.binary import BinarySession, ping
from ..sessions import login_guard
from . import notifications, pins, properties, sync
from ..model.watchers import BRIDGE, DEVICE, failed as watchers_failed
from ..logger import get_logger

log = get_logger("blynklite.hardware")

MAX_BRIDGE_CHANNELS = 100
JAVA_TRIM = "".join(map(chr, range(33)))     # String.trim() drops every char <= ' ', NUL included
WIDGET_PROPERTIES = frozenset((
    "label", "color", "onLabel", "offLabel", "onColor", "offColor", "onBackColor", "offBackColor",
    "labels", "min", "max", "isOnPlay", "url", "urls", "step", "valueFormatting", "suffix",
    "maximumFractionDigits", "opacity", "scale", "rotation"))
INFO_KEYS = {"ver": "blynkVersion", "fw": "version", "dev": "boardType", "cpu": "cpuType",
             "con": "connectionType", "tmpl": "templateId", "build": "build"}


class HardwareSession(BinarySession):
    MAX_BODY = frames.HARDWARE_MAX_BODY
    __slots__ = ("user", "dash", "device", "prefix", "buff_in", "bridges", "notify_times",
                 "user_session", "pin_heads")

    def __init__(self, server, conn):
        super().__init__(server, conn, frames.hardware_decoder(frames.PRE_LOGIN_MAX_BODY), frames.HARDWARE)
        self.user = self.dash = self.device = None
        self.prefix = b""
        self.buff_in = 0
        self.bridges = None
        self.notify_times = None
        self.user_session = None
        self.pin_heads = None
        conn.idle_timeout = idle_timeout(server.config["hard.socket.idle.timeout"])

    handlers = {Command.LOGIN: None, Command.HARDWARE_LOGIN: None}  # replaced below

    def handle(self, command, msg_id, size, body):
        if self.user is None:
            if command in (Command.LOGIN, Command.HARDWARE_LOGIN):
                self.run_handler(login, msg_id, str(body, "utf-8", "replace"))
            else:
                log.debug("%s: command %s before login; closing", self.describe(), command)
                self.conn.abort("command before login")
            return
        if command == Command.HARDWARE:
            self.run_handler(hardware_write, msg_id, body)
            return
        BinarySession.handle(self, command, msg_id, size, body)

    def describe(self):
        who = self.user.email if self.user else "unauthenticated"
        return f"hardware {who} {self.conn.peer[0]}"

    # -- output to this device --------------------------------------------------------------------
    def fits(self, body):
        """Upstream skips a message that would overflow the device's receive buffer (framing.md §8)."""
        if self.buff_in:
            return len(body) + 5 <= self.buff_in
        return len(body) <= DEFAULT_BUFF_IN

    def deliver(self, command, msg_id, body):
        """Send to this device if it fits its buffer; True when sent."""
        if not self.fits(body) or not self.conn.writable:
            return False
        self.send(command, msg_id, body)
        return True

    def connection_lost(self, reason):
        if self.user is not None:
            self.server.device_went_offline(self)


def idle_timeout(seconds):
    return math.ceil(seconds * 2.3) if seconds > 0 else 0


# -- handlers --------------------------------------------------------------------------------------
def login(session, msg_id, text):
    if session.user is not None:
        raise StatusError(Status.USER_ALREADY_REGISTERED)
    guard, ip = session.server.login_guard, session.conn.peer[0]
    if guard.blocked(login_guard.HARDWARE, ip):
        session.refuse(msg_id, Status.QUOTA_LIMIT, "login blocked")
        return
    token = text.strip(JAVA_TRIM)
    ref = session.server.hub.resolve_token(token)
    if ref is None:
        guard.failed(login_guard.HARDWARE, ip, reason="invalid token")
        session.refuse(msg_id, Status.INVALID_TOKEN, "invalid token")
        return
    session.server.hub.claim_provisional(ref)   # a temporary token: the device joins its dashboard
    session.server.device_logged_in(session, ref, msg_id)


MAX_CACHED_PIN_HEADS = 1024


def hardware_write(session, msg_id, body):
    """The hot path: store the value, forward the device's bytes to the apps of an active dashboard."""
    if len(body) < 4:
        raise illegal_command("body too short")
    if body[1] != 0x77:   # 'w': reads and anything else are ignored
        return
    raw = bytes(body)
    value_at = raw.find(b"\0", raw.find(b"\0") + 1) + 1
    pin = _pin_head(session, raw[:value_at])
    value = raw[value_at:].decode("utf-8", "replace")
    if not value_at or not value:
        raise illegal_command("a pin write needs a pin and a value")
    user, dash = session.user, session.dash
    server = session.server
    matched = dash.matching_streams(session.device.id, pin[0], pin[1])
    if matched:
        pins.store_in_widgets(dash, matched, value)
    else:
        user.profile.pins_storage[pin[2]] = value
    # model/watchers.py `written`, inline: one lookup when nobody watches this pin, one call when one does
    watchers = server.watchers
    index = dash.watch_index
    if index is None:
        index = watchers.index_of(user, dash)
    watch = index.get(pin[2])
    if watch is not None:
        try:
            watch.pin_written(user, dash, session.device.id, pin[0], pin[1], value, DEVICE, session)
        except Exception:
            watchers_failed(watch, DEVICE, pin[0], pin[1])
    if watchers.every:
        watchers.tell_every(user, dash, session.device.id, pin[0], pin[1], value, DEVICE, session)
    dash.updated_at = session.device.data_received_at = session.server.reactor.wall_ms
    session.server.hub.dirty.add(user)
    if dash.is_active and session.user_session.apps:
        session.server.forward_frame_to_apps(session.user_session, dash.id, Command.HARDWARE, msg_id,
                                             session.prefix, raw)


def _pin_head(session, head):
    """`vw\0<pin>\0` → (pin type, pin, pinsStorage key), parsed once per connection and pin."""
    heads = session.pin_heads
    if heads is None:
        heads = session.pin_heads = {}
    entry = heads.get(head)
    if entry is None:
        pin_type, pin, _ = pins.parse_write(head.decode("utf-8", "replace") + "?")
        entry = (pin_type, pin, pins.storage_key(session.dash.id, session.device.id, pin_type, pin))
        if len(heads) >= MAX_CACHED_PIN_HEADS:
            heads.clear()
        heads[head] = entry
    return entry


def hardware_sync(session, msg_id, text):
    dash, device = session.dash, session.device
    if not text:
        messages = sync.hardware_all(session.user, dash, device.id)
    else:
        parts = split(text)
        if len(parts) < 2 or not parts[0]:
            raise illegal_command("sync needs pins")
        if parts[0][1:2] != "r":
            return
        messages = sync.hardware_pins(session.user, dash, device.id, parts[0][0], parts[1:])
    for body in messages:   # upstream writes sync replies without the buffer check
        session.send(Command.HARDWARE, msg_id, body.encode("utf-8"))


def internal(session, msg_id, text):
    if not text:
        raise illegal_command("empty internal message")
    first = text[0]
    if first in "vfhbdct":
        apply_info(session, split(text))
        session.ok(msg_id)
        ota = session.server.ota
        if ota is not None and ota.pending:
            ota.device_reported(session)
    elif first == "r":
        rtc = session.dash.widget_of_type("RTC")
        if rtc is not None:
            session.send(Command.BLYNK_INTERNAL, msg_id, f"rtc\0{rtc_seconds(rtc)}")


def apply_info(session, fields):
    info = {}
    values = dict(zip(fields[0::2], fields[1::2]))
    for key, json_key in INFO_KEYS.items():
        if values.get(key):
            info[json_key] = values[key]
    heartbeat = _int_or(values.get("h-beat"), 0)
    buff_in = _int_or(values.get("buff-in"), 0)
    info["heartbeatInterval"] = heartbeat
    info["buffIn"] = buff_in if buff_in > 0 else DEFAULT_BUFF_IN
    session.device.hardware_info = info
    session.buff_in = info["buffIn"]
    configured = session.server.config["hard.socket.idle.timeout"]
    if configured and heartbeat > 0 and heartbeat != configured:
        session.conn.idle_timeout = idle_timeout(heartbeat)
    session.dash.updated_at = session.server.reactor.wall_ms
    session.server.hub.mark_dirty(session.user)


def rtc_seconds(rtc_widget):
    """Local wall-clock seconds of the widget's zone, counted as if they were UTC (commands.md §4.9)."""
    now = time.time()
    zone = rtc_widget.get("tzName")
    if zone:
        try:
            from zoneinfo import ZoneInfo
            from datetime import datetime
            offset = datetime.fromtimestamp(now, ZoneInfo(zone)).utcoffset()
            return int(now + offset.total_seconds())
        except Exception:
            log.debug("unknown time zone %r; using UTC", zone)
    return int(now)


def _int_or(text, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def set_widget_property(session, msg_id, text):
    parts = text.split("\0", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise illegal_body("setProperty needs pin, property and value")
    if not session.dash.is_active:
        return
    pin_text, prop, value = parts
    if prop not in WIDGET_PROPERTIES:
        raise illegal_body(f"unknown property {prop}")
    pin = parse_pin(pin_text)
    try:
        properties.apply_from_device(session.user, session.dash, session.device.id, pin, prop, value)
    except ValueError:
        raise illegal_command(f"bad value for {prop}") from None
    prefix = session.prefix.decode()
    session.server.forward_to_apps(session.user, session.dash.id, Command.SET_WIDGET_PROPERTY, msg_id,
                                   (prefix + text).encode("utf-8"))
    session.ok(msg_id)


def bridge(session, msg_id, text):
    parts = split(text, 2)
    if len(parts) < 3:
        raise illegal_command("bridge needs 3 fields")
    channel = parts[0]
    if parts[1].startswith("i"):
        bridge_init(session, msg_id, channel, parts[2])
    else:
        bridge_send(session, msg_id, channel, text.split("\0", 1)[1])


def bridge_init(session, msg_id, channel, token):
    """The target is fixed now, as upstream: a later token refresh does not cut the bridge."""
    bridges = session.bridges or {}
    if len(token) != 32 or (channel not in bridges and len(bridges) > MAX_BRIDGE_CHANNELS):
        raise not_allowed("bad bridge token or too many channels")
    ref = session.server.hub.resolve_token(token)
    if ref is None or ref.user is not session.user:
        raise not_allowed("bridge token of another account")
    bridges[channel] = ref
    session.bridges = bridges
    session.ok(msg_id)


def bridge_send(session, msg_id, channel, hardware_body):
    ref = (session.bridges or {}).get(channel)
    if ref is None:
        raise not_allowed("bridge channel not initialised")
    payload = hardware_body.encode("utf-8")
    delivered = False
    user_session = session.server.hub.existing_session(session.user)
    for target in user_session.hardware_of(ref.dash.id, ref.device.id):
        if target is not session:   # upstream writes bridged messages without the buffer check
            target.send(Command.BRIDGE, msg_id, payload)
            delivered = True
    if not delivered:
        session.respond(msg_id, Status.DEVICE_NOT_IN_NETWORK)
    if len(hardware_body) >= 4 and hardware_body[1] == "w":
        pin_type, pin, value = pins.parse_write(hardware_body)
        session.server.pin_written(ref.user, ref.dash, ref.device.id, pin_type, pin, value, BRIDGE, session)
        ref.dash.updated_at = ref.device.data_received_at = session.server.reactor.wall_ms
        session.server.hub.mark_dirty(ref.user)
        if ref.dash.is_active:
            prefix = f"{ref.dash.id}-{ref.device.id}\0".encode()
            session.server.forward_to_apps(ref.user, ref.dash.id, Command.HARDWARE, msg_id, prefix + payload)


def mark_offline(device, now_ms):
    device.status = OFFLINE
    device.disconnect_time = now_ms


def mark_online(device, now_ms, ip):
    device.status = ONLINE
    device.connect_time = now_ms
    if not device.first_connect_time:
        device.first_connect_time = now_ms
    if ip:
        device.last_logged_ip = ip


HardwareSession.handlers = {
    Command.PING: ping,
    Command.HARDWARE_SYNC: hardware_sync,
    Command.BLYNK_INTERNAL: internal,
    Command.SET_WIDGET_PROPERTY: set_widget_property,
    Command.BRIDGE: bridge,
    Command.LOGIN: lambda s, m, t: s.respond(m, Status.USER_ALREADY_REGISTERED),
    Command.HARDWARE_LOGIN: lambda s, m, t: s.respond(m, Status.USER_ALREADY_REGISTERED),
    Command.EMAIL: notifications.email,
    Command.PUSH_NOTIFICATION: notifications.push,
    Command.SMS: notifications.sms,
    Command.TWEET: notifications.tweet,
}
