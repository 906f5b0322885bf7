"""The device-token REST API on both ports (spec/http-api.md §2): `/{token}/get`, `update`, `pin`,
`extra/pin`, `isHardwareConnected`, `isAppConnected`, `project`, `rtc`, `notify`, `email`, `qr`
and `clone`.

Writes behave like app writes: stored, forwarded to the device and to the apps of an active
project, with message id 111. Error strings are upstream's, word for word: scripts compare them.
"""
import os

from ..codec.body import PIN_LETTERS, PIN_TYPES, MAX_PIN
from ..codec.commands import Command, MsgId
from ..model import widgets as W
from ..model.watchers import HTTP
from . import pins, properties
from .hardware import WIDGET_PROPERTIES, rtc_seconds
from .http_common import HttpProblem, Reply, bad_request, json_body, ok, server_error, to_json
from ..logger import get_logger

log = get_logger("blynklite.http")

# Upstream's property order: the first one present in the query is used (spec/http-api.md §2.3).
PROPERTY_ORDER = ("label", "color", "onLabel", "offLabel", "onColor", "offColor", "onBackColor",
                  "offBackColor", "labels", "min", "max", "isOnPlay", "url", "urls", "step",
                  "valueFormatting", "suffix", "maximumFractionDigits", "opacity", "scale", "rotation")
assert set(PROPERTY_ORDER) == WIDGET_PROPERTIES


class PinAddress:
    __slots__ = ("pin_type", "pin", "letter")

    def __init__(self, text):
        letter, digits = text[:1].lower(), text[1:]
        if letter not in PIN_TYPES or not digits.isascii() or not digits.isdigit() or len(digits) > 3:
            raise HttpProblem(bad_request("Wrong pin format."))
        self.pin = int(digits)
        if self.pin > MAX_PIN:
            raise HttpProblem(bad_request("Wrong pin format."))
        self.pin_type = PIN_TYPES[letter]
        self.letter = letter


def resolve(server, token):
    ref = server.hub.resolve_token(token)
    if ref is None:
        raise HttpProblem(bad_request("Invalid token."))
    return ref


# -- reading ---------------------------------------------------------------------------------------
def get_pin(server, request, token, pin):
    ref = resolve(server, token)
    address = PinAddress(pin)
    matched = ref.dash.matching_streams(ref.device.id, address.pin_type, address.pin)
    if matched:
        return ok(to_json(widget_values(ref.dash, *matched[0])))
    key = pins.storage_key(ref.dash.id, ref.device.id, address.pin_type, address.pin)
    stored = ref.user.profile.pins_storage.get(key)
    if stored is None:
        return bad_request("Requested pin doesn't exist in the app.")
    if isinstance(stored, dict):
        return ok(to_json([str(v) for v in stored.get("values") or []]))
    return ok(to_json(str(stored).split("\0")))


def widget_values(dash, widget, stream):
    kind = W.kind(widget)
    if kind in ("TERMINAL", "MAP"):
        return list(dash.memory.of(widget))
    if kind in W.MULTI_PIN:
        streams = W.streams(widget)
        if W.is_split(widget):
            return [str(s.get("value") or "") for s in streams]
        first = streams[0].get("value") if streams else None
        return first.split("\0") if first else []
    value = stream.get("value")
    return [] if value is None else [str(value)]


def is_hardware_connected(server, request, token):
    ref = resolve(server, token)
    user_session = server.hub.existing_session(ref.user)
    connected = bool(user_session and user_session.hardware_of(ref.dash.id, ref.device.id))
    return ok(to_json(connected))


def is_app_connected(server, request, token):
    ref = resolve(server, token)
    user_session = server.hub.existing_session(ref.user)
    return ok(to_json(bool(ref.dash.is_active and user_session and user_session.apps)))


def get_project(server, request, token):
    return ok(to_json(project_json(resolve(server, token).dash)))


def project_json(dash):
    """The dashboard without device tokens, share token, Twitter secrets or pin storage."""
    project = dash.to_json(private=False)
    for widget in project.get("widgets") or ():
        if W.kind(widget) == "TWITTER":
            widget.pop("token", None)
            widget.pop("secret", None)
    return project


def get_qr(server, request, token):
    """A clone code for the project, shown as a QR code the app scans (spec/http-api.md §2.8)."""
    from ..hub import new_token
    from ..qrcode import qr_png
    from . import app_clone
    from .history_http import Later
    ref = resolve(server, token)
    code = new_token()
    config = server.config
    port = 443 if config["force.port.80.for.csv"] else config["https.port"]
    link = f"blynk://token/clone/{code}?server={server.public_host()}&port={port}"

    def failed(error):      # upstream logs it and still answers with the QR code
        log.error("cannot store the clone code of %s: %s", ref.user.email, error)
        return Reply(200, qr_png(link), "image/png")
    return Later(server, app_clone.write_clone, (app_clone.clone_database(server), clone_folder(server), code,
                                                 to_json(project_json(ref.dash))),
                 lambda _: Reply(200, qr_png(link), "image/png"), failed)


def get_clone(server, request, token):
    """The project stored under a clone code (here `token` is that code)."""
    from . import app_clone
    from .history_http import Later
    if len(token) != 32 or not token.replace("-", "").replace("_", "").isalnum():
        return server_error("Requested QR not found.")

    def failed(error):
        log.error("cannot read clone %s…: %s", token[:4], error)
        return server_error("Error getting cloned project.")
    return Later(server, app_clone.read_clone, (app_clone.clone_database(server), clone_folder(server), token),
                 lambda text: ok(text) if text is not None else server_error("Requested QR not found."), failed)


def clone_folder(server):
    return os.path.join(server.store.folder, "clone")


def notify(server, request, token):
    """POST {"body": "..."}: a push to the project's phones (spec/http-api.md §2.6)."""
    data = json_body(request, dict)
    ref = resolve(server, token)
    body = data.get("body")
    if not isinstance(body, str) or not body or len(body) > 255:
        return bad_request("Body is empty or larger than 255 chars.")
    if not ref.dash.is_active:
        return bad_request("Project is not active.")
    widget = ref.dash.widget_of_type("NOTIFICATION")
    if widget is None:
        return bad_request("No notification widget.")
    if not (widget.get("androidTokens") or widget.get("iOSTokens")):
        return bad_request("Notification widget not initialized.")
    server.notifier.push(ref.user, widget, body, ref.dash.id)
    return ok()


def email(server, request, token):
    """POST {"to", "subj", "title"}: a plain-text mail whose body is `title` (spec/http-api.md §2.7)."""
    data = json_body(request, dict)
    ref = resolve(server, token)
    if not ref.dash.is_active:
        return bad_request("Project is not active.")
    if ref.dash.widget_of_type("EMAIL") is None:
        return bad_request("No email widget.")
    to, subject = data.get("to"), data.get("subj")
    if not isinstance(to, str) or not to or not isinstance(subject, str) or not subject:
        return bad_request("Email body is wrong. Missing or empty fields 'to', 'subj'.")
    server.notifier.mail(to, subject, str(data.get("title") or ""))
    return ok()


def get_rtc(server, request, token):
    ref = resolve(server, token)
    rtc = ref.dash.widget_of_type("RTC")
    if rtc is None:
        return bad_request("Requested rtc not exists in app.")
    return ok(to_json([rtc_seconds(rtc)]))


# -- writing ---------------------------------------------------------------------------------------
def update_from_query(server, request, token, pin):
    values = request.query.get("value")
    if values is not None:
        return write_pin(server, token, pin, values)
    for prop in PROPERTY_ORDER:
        if prop in request.query:
            return set_property(server, token, pin, prop, request.query[prop][0])
    resolve(server, token)
    return bad_request("Wrong request format.")


def update_from_body(server, request, token, pin):
    values = json_body(request, list)
    return write_pin(server, token, pin, [v if isinstance(v, str) else to_json(v) for v in values])


def update_with_timestamps(server, request, token, pin):
    points = json_body(request, list)
    ref = resolve(server, token)
    address = PinAddress(pin)
    if not points:
        return bad_request("No pin for update provided.")
    first = points[0] if isinstance(points[0], dict) else {}
    value = first.get("value")
    if value is None:
        return bad_request("No pin for update provided.")
    # history keeps every point with its own stamp (history/recorder.py)
    server.history.with_stamps(ref, address.pin_type, address.pin, points,
                               lambda: deliver_write(server, ref, address, str(value)))
    return ok()


def write_pin(server, token, pin, values):
    ref = resolve(server, token)
    address = PinAddress(pin)
    if not values:
        return bad_request("No pin for update provided.")
    deliver_write(server, ref, address, "\0".join(values))
    return ok()


def deliver_write(server, ref, address, value):
    """Store, then send to the device's connections and to the apps of an active project."""
    user, dash, device = ref.user, ref.dash, ref.device
    matched = dash.matching_streams(device.id, address.pin_type, address.pin)
    server.pin_written(user, dash, device.id, address.pin_type, address.pin, value, HTTP)
    dash.updated_at = device.data_received_at = server.reactor.wall_ms
    server.hub.mark_dirty(user)
    letter = W.body_letter(matched[0][1]) if matched else PIN_LETTERS[address.pin_type]
    body = f"{letter}w\0{address.pin}\0{value}".encode("utf-8")
    user_session = server.hub.existing_session(user)
    if user_session is not None:
        for hw in user_session.hardware_of(dash.id, device.id):
            hw.deliver(Command.HARDWARE, MsgId.HTTP, body)
    if dash.is_active:
        server.forward_to_apps(user, dash.id, Command.HARDWARE, MsgId.HTTP,
                               f"{dash.id}-{device.id}\0".encode() + body)


def set_property(server, token, pin, prop, value):
    ref = resolve(server, token)
    dash = ref.dash
    if not dash.is_active:
        return bad_request("Project is not active.")
    address = PinAddress(pin)
    bound = [w for w in dash.widgets if W.target_of(w) == ref.device.id and any(
        s.get("pin") == address.pin and s.get("pinType") == address.pin_type for s in W.streams(w))]
    if not bound:
        return bad_request("No widget for SetWidgetProperty command.")
    if not all(properties.accepts(w, prop) for w in bound):
        return bad_request("Error setting widget property.")
    try:
        stored = properties.convert(prop, value)
    except ValueError:
        return bad_request("Error setting widget property.")
    for widget in bound:
        properties.set_property(widget, prop, stored)
    dash.widgets_changed()
    server.hub.mark_dirty(ref.user)
    body = f"{dash.id}-{ref.device.id}\0{address.pin}\0{prop}\0{value}".encode("utf-8")
    server.forward_to_apps(ref.user, dash.id, Command.SET_WIDGET_PROPERTY, MsgId.HTTP, body)
    return ok()


ROUTES = (
    ("GET", "/{token}/get/{pin}", get_pin),
    ("GET", "/{token}/update/{pin}", update_from_query),
    ("PUT", "/{token}/update/{pin}", update_from_body),
    ("PUT", "/{token}/pin/{pin}", update_from_body),
    ("PUT", "/{token}/extra/pin/{pin}", update_with_timestamps),
    ("GET", "/{token}/isHardwareConnected", is_hardware_connected),
    ("GET", "/{token}/isAppConnected", is_app_connected),
    ("GET", "/{token}/project", get_project),
    ("GET", "/{token}/rtc", get_rtc),
    ("GET", "/{token}/qr", get_qr),
    ("POST", "/{token}/notify", notify),
    ("POST", "/{token}/email", email),
    ("GET", "/{token}/clone", get_clone),
)
