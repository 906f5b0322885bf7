"""SET_WIDGET_PROPERTY: which widget accepts which property and how values are stored (app.md §5.4)."""
from ..model import widgets as W

EVERY_WIDGET = frozenset(("label", "color"))
SINGLE_PIN = frozenset(("min", "max"))
BY_TYPE = {
    "onLabel": {"BUTTON", "STYLED_BUTTON", "SWITCH"}, "offLabel": {"BUTTON", "STYLED_BUTTON", "SWITCH"},
    "onColor": {"STYLED_BUTTON"}, "offColor": {"STYLED_BUTTON"}, "onBackColor": {"STYLED_BUTTON"},
    "offBackColor": {"STYLED_BUTTON"}, "labels": {"MENU", "SEGMENTED_CONTROL"},
    "isOnPlay": {"PLAYER"}, "url": {"VIDEO", "IMAGE"}, "urls": {"IMAGE"}, "opacity": {"IMAGE"},
    "scale": {"IMAGE"}, "rotation": {"IMAGE"}, "step": {"STEP", "VERTICAL_STEP"},
    "valueFormatting": {"GAUGE", "LABELED_VALUE_DISPLAY"}, "suffix": {"NUMBER_INPUT"},
    "maximumFractionDigits": {"SLIDER", "VERTICAL_SLIDER"},
}
COLOR_PROPERTIES = frozenset(("color", "onColor", "offColor", "onBackColor", "offBackColor"))


def accepts(widget, prop):
    wtype = W.kind(widget)
    if wtype == "DEVICE_TILES":
        return False
    if prop in EVERY_WIDGET:
        return True
    if prop in SINGLE_PIN:
        return wtype not in W.MULTI_PIN and wtype not in W.NO_PIN
    return wtype in BY_TYPE.get(prop, ())


def apply_from_device(user, dash, device_id, pin, prop, value):
    """Apply to every widget on virtual `pin` of the device, else remember in pinsStorage.

    ValueError (before anything changes) when the value does not suit the property."""
    stored = convert(prop, value)
    applied = False
    for widget in dash.widgets:
        if W.target_of(widget) != device_id or not _on_virtual_pin(widget, pin) or not accepts(widget, prop):
            continue
        set_property(widget, prop, stored)
        applied = True
    if applied:
        dash.widgets_changed()
    else:
        user.profile.pins_storage[f"{dash.id}-{device_id}-v{pin}-{prop}"] = value


def _on_virtual_pin(widget, pin):
    return any(s.get("pinType") == "VIRTUAL" and s.get("pin") == pin for s in W.streams(widget))


def convert(prop, value):
    """The value as the widget JSON keeps it; ValueError for a bad number or colour (upstream's
    NumberFormatException, answered ILLEGAL_COMMAND)."""
    if prop in COLOR_PROPERTIES:
        return parse_color(value)
    if prop in ("labels", "urls"):
        return value.split("\0")
    if prop in ("min", "max", "step", "opacity", "scale"):
        return float(value)
    if prop in ("rotation", "maximumFractionDigits"):
        return int(float(value))
    if prop == "isOnPlay":
        return value.lower() == "true"
    return value


def set_property(widget, prop, stored):
    """`stored` comes from convert()."""
    widget[prop] = stored
    if prop == "color":
        widget["isDefaultColor"] = False


def parse_color(value):
    """`#RRGGBB` (or any integer) → signed 32-bit RGBA with alpha 255: `#23C48E` → 600084223."""
    text = value.strip()
    rgb = int(text[1:], 16) if text.startswith("#") else int(text, 0)
    rgba = ((rgb << 8) | 0xFF) & 0xFFFFFFFF
    return rgba - (1 << 32) if rgba >= 1 << 31 else rgba
