"""Pin writes as the model sees them: store a value in widgets or `pinsStorage` (spec/app.md §5.3)."""
from ..codec.body import PIN_LETTERS, parse_pin, parse_pin_type
from ..codec.commands import illegal_command
from ..model import widgets as W


def parse_write(text, empty_value_allowed=False):
    """`<t>w\\0pin\\0value...` → (pin_type, pin, value); ILLEGAL_COMMAND when malformed.

    Apps may write an empty value (a cleared Text Input); devices may not."""
    parts = text.split("\0", 2)
    if len(parts) < 3 or not parts[0] or not (parts[2] or empty_value_allowed):
        raise illegal_command("a pin write needs a pin and a value")
    return parse_pin_type(parts[0][0]), parse_pin(parts[1]), parts[2]


def storage_key(dash_id, device_id, pin_type, pin):
    return f"{dash_id}-{device_id}-{PIN_LETTERS[pin_type]}{pin}"


def store_value(user, dash, device_id, pin_type, pin, value):
    matched = dash.matching_streams(device_id, pin_type, pin)
    if matched:
        store_in_widgets(dash, matched, value)
    else:
        user.profile.pins_storage[storage_key(dash.id, device_id, pin_type, pin)] = value


def store_in_widgets(dash, matched, value):
    memory = dash.memory
    for widget, stream in matched:
        W.store_value(widget, stream, value, memory)


def stored_entries(user, dash_id, device_id=None):
    """pinsStorage entries of a dashboard (and device): (device_id, key_suffix, value)."""
    prefix = f"{dash_id}-"
    for key, value in user.profile.pins_storage.items():
        if not key.startswith(prefix):
            continue
        device_part, _, pin_part = key[len(prefix):].partition("-")
        if not device_part.lstrip("-").isdigit() or not pin_part:
            continue
        if device_id is None or int(device_part) == device_id:
            yield int(device_part), pin_part, value


def remove_stored_pins(user, dash_id, widget):
    """A new or updated widget owns its pins now: drop stored values for them (spec/app.md §4.7)."""
    storage = user.profile.pins_storage
    for stream in W.streams(widget):
        if not W.is_valid_stream(stream):
            continue
        key = storage_key(dash_id, W.target_of(widget), stream["pinType"], stream["pin"])
        storage.pop(key, None)
        for stored in [k for k in storage if k.startswith(key + "-")]:
            del storage[stored]
