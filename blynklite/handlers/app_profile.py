"""Profile editing from the app (spec/app.md §4.5–4.9): profile download, dashboards, widgets,
devices and tokens, with upstream's size limits, energy and per-user limits."""
import json
import zlib

from ..codec import json_text
from ..codec.body import parse_int, parse_long, split
from ..codec.commands import (Command, Status, StatusError, illegal_body, illegal_command,
                              not_allowed)
from ..automation import validate_widget
from ..model import widgets as W
from ..model.dashboard import DashBoard
from ..model.device import UPDATABLE, Device
from ..storage.profiles import ProfileStore
from . import app_tiles, pins
from ..logger import get_logger

log = get_logger("blynklite.app")

MAX_DEVICE_NAME = 50


def parse_json(session, text, limit_key):
    if not text:
        raise illegal_command("empty JSON")
    if len(text) > session.server.config[limit_key] * 1024:
        raise not_allowed("JSON over the size limit")
    try:
        data = json_text.loads(text)
    except ValueError:
        raise illegal_body("JSON does not parse") from None
    if not isinstance(data, dict):
        raise illegal_body("JSON object expected")
    return data


def ensure_room(session, new_piece, old_piece=None):
    """NOT_ALLOWED when a change would take the account's whole profile over `user.profile.max.size`:
    the profile as it is saved now, less the piece replaced, plus the new one (JSON text lengths)."""
    grows = _json_size(new_piece) - (_json_size(old_piece) if old_piece is not None else -1)  # -1: a comma
    if grows <= 0:
        return
    limit = session.server.config["user.profile.max.size"] * 1024
    if len(ProfileStore.serialize(session.user)) + grows > limit:
        raise not_allowed("the profile would outgrow user.profile.max.size")


def _json_size(piece):
    return len(json.dumps(piece, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def dashboard_or_fail(session, dash_id):
    dash = session.user.profile.dashboard(dash_id)
    if dash is None:
        raise illegal_command(f"no dashboard {dash_id}")
    return dash


def _touch(session, dash=None):
    now = session.server.reactor.wall_ms
    if dash is not None:
        dash.updated_at = now
    session.user.last_modified_ts = now
    session.server.hub.mark_dirty(session.user)


def _charge(session, price):
    user = session.user
    if user.app_name == "Blynk" and user.energy < price:
        raise StatusError(Status.ENERGY_LIMIT)
    user.energy -= price


def _reply_json(session, command, msg_id, data):
    session.send(command, msg_id, json.dumps(data, ensure_ascii=False, separators=(",", ":")))


# -- profile -----------------------------------------------------------------------------------------
def load_profile(session, msg_id, text):
    profile = session.user.profile
    if "\0" in text:           # flashedToken\0dashId\0publisherEmail[\0appName]: an exported app
        from . import app_publisher     # loaded at the first exported app's request
        app_publisher.load_published_profile(session, msg_id, split(text))
        return
    if text:
        data = dashboard_or_fail(session, parse_int(split(text)[0])).to_json()
    else:
        data = profile.to_json()
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    session.send(Command.LOAD_PROFILE_GZIPPED, msg_id, zlib.compress(raw))


# -- dashboards --------------------------------------------------------------------------------------
def create_dash(session, msg_id, text):
    no_token = text.startswith("no_token\0")
    if no_token:
        text = text[len("no_token\0"):]
    data = parse_json(session, text, "user.profile.max.size")
    try:
        dash = DashBoard.from_json(data)
    except (ValueError, TypeError, AttributeError):
        raise illegal_body("not a dashboard") from None
    _check_automation(dash.widgets)
    profile = session.user.profile
    config = session.server.config
    if len(profile.dashboards) >= config["user.dashboard.max.limit"]:
        raise StatusError(Status.QUOTA_LIMIT)
    if profile.dashboard(dash.id) is not None:
        raise not_allowed("dashboard id exists")
    ensure_room(session, dash.to_json())
    _charge(session, dash.energy_price())
    now = session.server.reactor.wall_ms
    dash.created_at = dash.created_at or now
    dash.is_active = bool(dash.is_active)
    dash.shared_token = None
    hub = session.server.hub
    for device in dash.devices:
        device.reset_for_new_token()
        if not no_token:
            hub.assign_token(session.user, dash, device)
    profile.dashboards.append(dash)
    _touch(session, dash)
    session.ok(msg_id)


def update_dash(session, msg_id, text):
    data = parse_json(session, text, "user.profile.max.size")
    try:
        incoming = DashBoard.from_json(data)
    except (ValueError, TypeError, AttributeError):
        raise illegal_body("not a dashboard") from None
    _check_automation(incoming.widgets)
    dash = dashboard_or_fail(session, incoming.id)
    ensure_room(session, incoming.to_json(), dash.to_json())
    dash.apply_settings(data)
    old_notification = dash.widget_of_type("NOTIFICATION")
    dash.widgets = incoming.widgets
    _keep_push_tokens(dash, old_notification)
    dash.widgets_changed()
    for widget in dash.widgets:
        pins.remove_stored_pins(session.user, dash.id, widget)
    _touch(session, dash)
    session.ok(msg_id)


def _keep_push_tokens(dash, old_notification):
    new = dash.widget_of_type("NOTIFICATION")
    if old_notification is not None and new is not None:
        for key in ("androidTokens", "iOSTokens"):
            if old_notification.get(key):
                new[key] = old_notification[key]


def delete_dash(session, msg_id, text):
    dash = dashboard_or_fail(session, parse_int(text))
    user = session.user
    user.energy += dash.energy_price()
    server = session.server
    server.hub.unindex_dashboard(dash)
    user.profile.dashboards.remove(dash)
    prefix = f"{dash.id}-"
    for key in [k for k in user.profile.pins_storage if k.startswith(prefix)]:
        del user.profile.pins_storage[key]
    _touch(session)
    session.ok(msg_id)
    server.hub.close_hardware(user, dash.id)
    server.history.dashboard_deleted(user, dash)


# -- widgets -----------------------------------------------------------------------------------------
def _widget_request(session, text):
    parts = text.split("\0", 1)
    if len(parts) < 2 or not parts[1]:
        raise illegal_command("widget request needs dash id and JSON")
    dash = dashboard_or_fail(session, parse_int(parts[0]))
    return dash, checked_widget(session, parts[1])


def checked_widget(session, text):
    """Widget JSON with upstream's size, parse and dimension checks; the type defaults to BUTTON."""
    widget = parse_json(session, text, "user.widget.max.size.limit")
    if not isinstance(widget.get("id", 0), int):
        raise illegal_body("widget id must be a number")
    width, height = widget.get("width", 0), widget.get("height", 0)
    if not isinstance(width, int) or not isinstance(height, int):
        raise illegal_body("widget width and height must be numbers")
    if width < 1 or height < 1:
        raise not_allowed("widget has no size")      # Java's default size is 0
    widget.setdefault("type", W.DEFAULT_TYPE)
    if not W.known_type(widget):
        raise illegal_body(f"unknown widget type {widget['type']!r}")
    _check_automation([widget])
    return widget


def _check_automation(widgets):
    """Eventor, Timer, WebHook and Table JSON that upstream's parser refuses: ILLEGAL_COMMAND_BODY."""
    for widget in widgets:
        try:
            validate_widget(widget)
        except ValueError as error:
            raise illegal_body(f"invalid {widget.get('type')} widget: {error}") from None


def create_widget(session, msg_id, text):
    if text.count("\0") == 3:       # dashId, tilesId, templateId, JSON: into a Device Tiles template
        app_tiles.create_template_widget(session, msg_id, text)
        return
    dash, widget = _widget_request(session, text)
    if dash.widget(W.widget_id(widget)) is not None or app_tiles.widget_in_tiles(dash, W.widget_id(widget)):
        raise not_allowed("widget id exists")
    ensure_room(session, widget)
    _charge(session, W.price(widget))
    dash.widgets.append(widget)
    dash.widgets_changed()
    pins.remove_stored_pins(session.user, dash.id, widget)
    _touch(session, dash)
    session.ok(msg_id)


def update_widget(session, msg_id, text):
    dash, widget = _widget_request(session, text)
    old = dash.widget(W.widget_id(widget))
    if old is None and app_tiles.update_template_widget(session, dash, widget):
        session.ok(msg_id)
        return
    if old is None or W.kind(old) != W.kind(widget):
        raise illegal_command("no such widget or type changed")
    if W.kind(widget) not in ("TIMER", "REPORT", "TIME_INPUT", "EMAIL", "RTC"):
        _keep_values(old, widget)
    if W.kind(widget) == "DEVICE_TILES":      # templates and tiles have their own commands
        for key in ("templates", "tiles"):
            widget[key] = old.get(key) or []
    if W.kind(widget) == "NOTIFICATION":
        for key in ("androidTokens", "iOSTokens"):
            if old.get(key):
                widget[key] = old[key]
    ensure_room(session, widget, old)
    dash.widgets[dash.widgets.index(old)] = widget
    dash.widgets_changed()
    pins.remove_stored_pins(session.user, dash.id, widget)
    _touch(session, dash)
    session.ok(msg_id)


def _keep_values(old, new):
    """A stream still on the same pin keeps the value the server has (upstream: the old one wins)."""
    for old_stream, new_stream in zip(W.streams(old), W.streams(new)):
        same_pin = (old_stream.get("pin"), old_stream.get("pinType")) == (new_stream.get("pin"),
                                                                          new_stream.get("pinType"))
        if same_pin and "value" in old_stream:
            new_stream["value"] = old_stream["value"]


def _dash_and_id(session, text, parse_id=parse_int):
    """`dashId\0id` bodies: the dashboard and the parsed second id."""
    parts = split(text)
    if len(parts) < 2:
        raise illegal_command("expected dashId and an id")
    return dashboard_or_fail(session, parse_int(parts[0])), parse_id(parts[1])


def delete_widget(session, msg_id, text):
    dash, widget_id = _dash_and_id(session, text, parse_long)
    widget = dash.widget(widget_id)
    if widget is None and app_tiles.delete_template_widget(session, dash, widget_id):
        session.ok(msg_id)
        return
    if widget is None:
        raise illegal_command("no such widget")
    removed = [widget]
    if W.kind(widget) == "TABS":
        removed += [w for w in dash.widgets if w.get("tabId", 0) > 0]
    for w in removed:
        session.user.energy += W.price(w)
        dash.widgets.remove(w)
        pins.remove_stored_pins(session.user, dash.id, w)
    dash.widgets_changed()
    _touch(session, dash)
    session.ok(msg_id)


# -- devices -----------------------------------------------------------------------------------------
def _device_request(session, text):
    parts = text.split("\0", 1)
    if len(parts) < 2 or not parts[1]:
        raise illegal_command("device request needs dash id and JSON")
    dash = dashboard_or_fail(session, parse_int(parts[0]))
    data = parse_json(session, parts[1], "user.widget.max.size.limit")
    if isinstance(data.get("name"), (int, float)):
        data["name"] = str(data["name"])      # Jackson turns a number into the String field
    try:
        return dash, Device.from_json(data)
    except (ValueError, TypeError):
        raise illegal_body("not a device") from None


def create_device(session, msg_id, text):
    dash, device = _device_request(session, text)
    if len(dash.devices) > session.server.config["user.devices.limit"] or dash.device(device.id):
        raise not_allowed("device limit reached or id exists")
    if not device.board_type or len(device.name or "") > MAX_DEVICE_NAME:
        raise illegal_command("device needs a board type and a name of at most 50 characters")
    ensure_room(session, device.to_json())
    device.reset_for_new_token()
    session.server.hub.assign_token(session.user, dash, device)
    dash.devices.append(device)
    _touch(session)         # upstream: the account's lastModifiedTs, not the dashboard's updatedAt
    _reply_json(session, Command.CREATE_DEVICE, msg_id, device.to_json())


def update_device(session, msg_id, text):
    dash, incoming = _device_request(session, text)
    device = dash.device(incoming.id)
    if device is None:
        raise illegal_body("no such device")
    ensure_room(session, incoming.to_json(), device.to_json())
    for attr in UPDATABLE:
        setattr(device, attr, getattr(incoming, attr))
    _touch(session, dash)
    session.ok(msg_id)


def delete_device(session, msg_id, text):
    dash, device_id = _dash_and_id(session, text)
    device = dash.device(device_id)
    if device is None:
        raise illegal_command("no such device")
    user = session.user
    session.server.hub.forget_token(device)
    dash.devices.remove(device)
    for widget in dash.widgets:
        if W.target_of(widget) == device.id:
            for stream in W.streams(widget):
                stream.pop("value", None)
    for key in [k for k in user.profile.pins_storage if k.split("-")[1:2] == [str(device.id)]]:
        del user.profile.pins_storage[key]   # upstream quirk: every dashboard's values of this id
    for tag in dash.tags:
        if isinstance(tag, dict) and device.id in (tag.get("deviceIds") or ()):
            tag["deviceIds"] = [d for d in tag["deviceIds"] if d != device.id]
    for selector in (w for w in dash.widgets if W.kind(w) == "DEVICE_SELECTOR"):
        if str(selector.get("value")) == str(device.id):
            selector["value"] = dash.devices[0].id if dash.devices else 0
    _touch(session)         # upstream: lastModifiedTs only
    session.ok(msg_id)
    session.server.hub.close_hardware(user, dash.id, device.id)
    session.server.history.device_deleted(user, dash.id, device.id)


def get_devices(session, msg_id, text):
    dash = dashboard_or_fail(session, parse_int(text))
    _reply_json(session, Command.GET_DEVICES, msg_id, [d.status_json() for d in dash.devices])


def get_device(session, msg_id, text):
    dash, device_id = _dash_and_id(session, text)
    device = dash.device(device_id)
    if device is None:
        raise illegal_body("no such device")
    _reply_json(session, Command.MOBILE_GET_DEVICE, msg_id, device.to_json())


def refresh_token(session, msg_id, text):
    parts = split(text)
    dash = dashboard_or_fail(session, parse_int(parts[0]))
    device = dash.device(parse_int(parts[1]) if len(parts) > 1 else 0)
    if device is None:
        raise illegal_body("no such device")
    token = session.server.hub.assign_token(session.user, dash, device)
    _touch(session)         # upstream: lastModifiedTs only
    session.send(Command.REFRESH_TOKEN, msg_id, token)
    session.server.hub.close_hardware(session.user, dash.id, device.id)


def add_energy(session, msg_id, text):
    parts = split(text)
    transaction = parts[1] if len(parts) > 1 else ""
    if (not transaction or transaction.startswith("com.blynk.energy")
            or (len(transaction) == 36 and transaction[19:20] == ".")):
        raise not_allowed("invalid purchase")
    session.user.energy += parse_int(parts[0])
    _touch(session)
    session.ok(msg_id)


HANDLERS = {
    Command.LOAD_PROFILE_GZIPPED: load_profile,
    Command.CREATE_DASH: create_dash,
    Command.UPDATE_DASH: update_dash,
    Command.DELETE_DASH: delete_dash,
    Command.CREATE_WIDGET: create_widget,
    Command.UPDATE_WIDGET: update_widget,
    Command.DELETE_WIDGET: delete_widget,
    Command.CREATE_DEVICE: create_device,
    Command.UPDATE_DEVICE: update_device,
    Command.DELETE_DEVICE: delete_device,
    Command.GET_DEVICES: get_devices,
    Command.MOBILE_GET_DEVICE: get_device,
    Command.REFRESH_TOKEN: refresh_token,
    Command.ADD_ENERGY: add_energy,
}
