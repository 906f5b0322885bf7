"""Replaying stored state: HARDWARE_SYNC to a device (commands.md §4.4), APP_SYNC to apps (app.md §4.2)."""
from ..codec.body import parse_pin, parse_pin_type
from ..model import widgets as W
from . import pins


def hardware_all(user, dash, device_id):
    bodies = []
    for widget in dash.widgets:
        if W.kind(widget) in W.NO_HARDWARE_SYNC or W.target_of(widget) != device_id:
            continue
        bodies += [f"{op}\0{pin}\0{value}" for op, pin, value in W.sync_values(widget, dash.memory, True)]
    bodies += [f"{op}\0{pin}\0{value}" for target, op, pin, value in _tile_values(dash) if target == device_id]
    for _, pin_part, value in pins.stored_entries(user, dash.id, device_id):
        if "-" not in pin_part:
            bodies += _stored_bodies(pin_part, value)
    return bodies


def hardware_pins(user, dash, device_id, letter, pin_texts):
    pin_type = parse_pin_type(letter)
    bodies = []
    for pin_text in pin_texts:
        pin = parse_pin(pin_text)
        widget = _first_widget_on(dash, device_id, pin_type, pin)
        if widget is None:
            key = f"{PIN_LETTERS_BY_TYPE[pin_type]}{pin}"
            for _, pin_part, value in pins.stored_entries(user, dash.id, device_id):
                if pin_part == key:
                    bodies += _stored_bodies(pin_part, value)
        elif W.kind(widget) not in W.NO_HARDWARE_SYNC:
            bodies += [f"{op}\0{p}\0{v}" for op, p, v in W.sync_values(widget, dash.memory, True)]
    return bodies


PIN_LETTERS_BY_TYPE = {"DIGITAL": "d", "ANALOG": "a", "VIRTUAL": "v"}


def _first_widget_on(dash, device_id, pin_type, pin):
    for widget in dash.widgets:
        if W.target_of(widget) == device_id and any(W.stream_matches(s, pin_type, pin) for s in W.streams(widget)):
            return widget
    return None


def _stored_bodies(pin_part, value):
    """`v67` + value → [`vw\\067\\0value`]; multi-value storages give one message per value."""
    letter, pin = pin_part[0], pin_part[1:]
    values = value.get("values", []) if isinstance(value, dict) else [value]
    return [f"{letter}w\0{pin}\0{v}" for v in values]


def app_sync_messages(user, dash, target_id=None):
    """(command, body) pairs of the APP_SYNC stream for a dashboard (all targets or one)."""
    from ..codec.commands import Command
    out = []
    for device_id, pin_part, value in pins.stored_entries(user, dash.id, target_id):
        head = f"{dash.id}-{device_id}"
        pin_key, _, prop = pin_part.partition("-")
        if prop:
            out.append((Command.SET_WIDGET_PROPERTY, f"{head}\0{pin_key[1:]}\0{prop}\0{value}"))
        elif isinstance(value, dict):
            values = value.get("values") or []
            out.append((Command.APP_SYNC, f"{head}\0{pin_key[0]}m\0{pin_key[1:]}\0" + "\0".join(values)))
            if values:
                out.append((Command.APP_SYNC, f"{head}\0{pin_key[0]}w\0{pin_key[1:]}\0{values[-1]}"))
        else:
            out.append((Command.APP_SYNC, f"{head}\0{pin_key[0]}w\0{pin_key[1:]}\0{value}"))
    for widget in dash.widgets:
        target = W.target_of(widget)
        if target_id is not None and target != target_id or target >= 200_000:
            continue
        for op, pin, value in W.sync_values(widget, dash.memory, False):
            out.append((Command.APP_SYNC, f"{dash.id}-{target}\0{op}\0{pin}\0{value}"))
    for target, op, pin, value in _tile_values(dash):
        if target_id is None or target == target_id:
            out.append((Command.APP_SYNC, f"{dash.id}-{target}\0{op}\0{pin}\0{value}"))
    return out


def _tile_values(dash):
    """(device id, op, pin, value) of every Device Tiles tile that holds a value."""
    return [(device_id, W.body_letter(s) + "w", s["pin"], s["value"])
            for widget in dash.widgets for device_id, s in W.tile_streams(widget) if s.get("value") is not None]
