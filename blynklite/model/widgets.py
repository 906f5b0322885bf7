"""Widgets as the app sends them: JSON dicts kept verbatim, with the rules the server applies to them.

A widget is a `dict` in the app's JSON shape (spec/app.md §5.3, §6), so every field the app knows
survives. This module holds what the server must understand: prices, pin modes for `pm`, which
widgets take a written value, and what they replay on sync.
"""
import collections

from ..codec.body import PIN_LETTERS
from . import table

# type → (energy price, pin mode contributed to `pm`) — spec/app.md §6
_TABLE = {
    "BUTTON": (200, "out"), "STYLED_BUTTON": (300, "out"), "LINK_BUTTON": (500, None),
    "SWITCH": (200, "out"), "SLIDER": (200, "out"), "VERTICAL_SLIDER": (200, "out"),
    "STEP": (500, "out"), "VERTICAL_STEP": (500, "out"), "NUMBER_INPUT": (400, "out"),
    "TEXT_INPUT": (400, "out"), "TIMER": (200, "out"), "TIME_INPUT": (200, "out"),
    "SEGMENTED_CONTROL": (400, "out"), "MENU": (400, "out"), "QR": (200, "out"),
    "RGB": (400, "out"), "TWO_AXIS_JOYSTICK": (400, "out"), "TERMINAL": (200, None),
    "LED": (100, "in"), "DIGIT4_DISPLAY": (200, "in"), "LABELED_VALUE_DISPLAY": (400, "in"),
    "GAUGE": (300, "in"), "LEVEL_DISPLAY": (200, "in"), "VERTICAL_LEVEL_DISPLAY": (200, "in"),
    "LCD": (400, "in"), "MAP": (600, "in"), "IMAGE": (600, "in"), "VIDEO": (500, None),
    "PLAYER": (400, "out"), "TABLE": (800, "out"), "ENHANCED_GRAPH": (900, None),
    "GPS_TRIGGER": (500, "out"), "GPS_STREAMING": (500, "out"), "ACCELEROMETER": (400, "out"),
    "LIGHT": (300, "out"), "PROXIMITY": (300, "out"), "TEMPERATURE": (300, "out"),
    "GRAVITY": (300, "out"), "BAROMETER": (300, "out"), "HUMIDITY": (300, "out"),
    "TWITTER": (0, None), "EMAIL": (100, None), "NOTIFICATION": (400, None), "SMS": (100, None),
    "TABS": (0, None), "TEXT": (100, None), "RTC": (100, None), "BRIDGE": (100, None),
    "BLUETOOTH": (0, None), "BLUETOOTH_SERIAL": (0, None), "EVENTOR": (500, None),
    "WEBHOOK": (500, None), "DEVICE_SELECTOR": (1900, None), "DEVICE_TILES": (0, None),
    "REPORT": (0, None),
}
MULTI_PIN = frozenset(("RGB", "TWO_AXIS_JOYSTICK", "LCD"))
NO_PIN = frozenset(("LINK_BUTTON", "TWITTER", "EMAIL", "NOTIFICATION", "SMS", "TABS", "TEXT", "RTC",
                    "BRIDGE", "BLUETOOTH", "BLUETOOTH_SERIAL", "EVENTOR", "DEVICE_SELECTOR",
                    "DEVICE_TILES", "REPORT", "ENHANCED_GRAPH"))
# Not replayed by HARDWARE_SYNC (spec/commands.md §4.4).
NO_HARDWARE_SYNC = NO_PIN | {"LCD", "MAP"}
DEFAULT_TYPE = "BUTTON"
TERMINAL_LINES = 25


def kind(widget):
    return widget.get("type") or DEFAULT_TYPE


def known_type(widget):
    return kind(widget) in _TABLE


def price(widget):
    entry = _TABLE.get(kind(widget))
    if kind(widget) == "REPORT":
        return 2900 * len(widget.get("reports") or ())
    return entry[0] if entry else 0


def widget_id(widget):
    return widget.get("id", 0)


def streams(widget):
    """The (json dict) data streams a widget writes to: itself, or its `pins` for multi-pin ones."""
    wtype = kind(widget)
    if wtype in MULTI_PIN:
        return [p for p in (widget.get("pins") or ()) if isinstance(p, dict)]
    if wtype in NO_PIN:
        return []
    return [widget]


def is_valid_stream(stream):
    return isinstance(stream.get("pin"), int) and stream["pin"] >= 0 and stream.get("pinType") in PIN_LETTERS


def stream_matches(stream, pin_type, pin):
    """The value-matching rule of spec/app.md §5.3 for one stream."""
    if stream.get("pin") != pin:
        return False
    stream_type = stream.get("pinType")
    return (stream_type == pin_type or (pin_type == "ANALOG" and stream.get("pwmMode"))
            or (pin_type == "DIGITAL" and stream_type == "ANALOG"))


def target_of(widget):
    return widget.get("deviceId") or 0      # a null deviceId reads as 0, as Jackson reads it


def pin_mode(widget):
    entry = _TABLE.get(kind(widget))
    return entry[1] if entry else None


def body_letter(stream):
    """Pin letter used when replaying a stream: `a` for PWM streams (spec/commands.md §4.4)."""
    return "a" if stream.get("pwmMode") else PIN_LETTERS[stream["pinType"]]


# What a widget remembers beyond its current value, and how much (spec/app.md §5.3).
REMEMBERED = {"TERMINAL": TERMINAL_LINES, "MAP": 25, "LCD": 6}


def configure_memory(terminal_lines, map_points, lcd_lines, table_rows):
    """Pool sizes from server.properties: `terminal/map/lcd.strings.pool.size`, `table.rows.pool.size`
    (upstream ignores the LCD key and always keeps 6; we honour it)."""
    REMEMBERED.update(TERMINAL=max(1, terminal_lines), MAP=max(1, map_points), LCD=max(1, lcd_lines))
    table.TableRows.pool_size = max(1, table_rows)


class WidgetMemory:
    """Transient per-widget memory (Terminal lines, Map points, advanced-LCD lines), never
    persisted, as upstream."""
    __slots__ = ("entries",)

    def __init__(self):
        self.entries = {}

    def of(self, widget):
        """The remembered values of a widget (empty when it remembers nothing yet)."""
        return self.entries.get(widget_id(widget)) or ()

    def remember(self, widget, value):
        entries = self.entries.get(widget_id(widget))
        if entries is None:
            entries = self.entries[widget_id(widget)] = collections.deque(maxlen=REMEMBERED[kind(widget)])
        if value == "clr":
            entries.clear()
        else:
            entries.append(value)


def remembers(widget):
    wtype = kind(widget)
    return wtype in ("TERMINAL", "MAP") or (wtype == "LCD" and bool(widget.get("advancedMode")))


def store_value(widget, stream, value, memory):
    if remembers(widget):
        memory.remember(widget, value)
    elif kind(widget) == "PLAYER" and value in ("play", "stop"):
        widget["isOnPlay"] = value == "play"
    elif kind(widget) == "TABLE":
        table.apply(widget, value)       # the row model (model/table.py)
    stream["value"] = value


def sync_values(widget, memory, for_hardware):
    """(letter, pin, value) triples a widget replays; HARDWARE_SYNC and APP_SYNC differ for Terminal."""
    wtype = kind(widget)
    if remembers(widget):
        return _remembered(widget, memory, for_hardware)
    if wtype == "TABLE":      # every row in one `vm` message to apps; nothing to the device (upstream)
        rows = table.sync_fields(widget)
        if for_hardware or not rows or not is_valid_stream(widget):
            return []
        return [(PIN_LETTERS[widget["pinType"]] + "m", widget["pin"], rows)]
    if wtype in MULTI_PIN and not is_split(widget):
        pins = streams(widget)
        if pins and is_valid_stream(pins[0]) and pins[0].get("value") is not None:
            return [(body_letter(pins[0]) + "w", pins[0]["pin"], pins[0]["value"])]
        return []
    return [(body_letter(s) + "w", s["pin"], s["value"])
            for s in streams(widget) if is_valid_stream(s) and s.get("value") is not None]


def _remembered(widget, memory, for_hardware):
    """Terminal: its lines in one `m` message (the last line alone for a device); Map and advanced
    LCD: one `w` message per remembered value, on the (first) pin."""
    values = memory.of(widget)
    stream = widget if kind(widget) != "LCD" else (streams(widget) or [{}])[0]
    if not values or not is_valid_stream(stream):
        return []
    if kind(widget) != "TERMINAL":
        return [(body_letter(stream) + "w", stream["pin"], value) for value in values]
    if for_hardware:
        return [(body_letter(stream) + "w", stream["pin"], values[-1])]
    return [(PIN_LETTERS[stream["pinType"]] + "m", stream["pin"], "\0".join(values))]


def tile_streams(widget):
    """(device id, data stream) of every tile of a Device Tiles widget whose stream is valid."""
    if kind(widget) != "DEVICE_TILES":
        return []
    return [(tile.get("deviceId", 0), tile["pin"]) for tile in widget.get("tiles") or ()
            if isinstance(tile, dict) and isinstance(tile.get("pin"), dict) and is_valid_stream(tile["pin"])]


def tile_matches(stream, pin_type, pin):
    """A tile takes a value written to exactly its pin and pin type (upstream's DataStream.isSame)."""
    return stream.get("pin") == pin and stream.get("pinType") == pin_type


def is_split(widget):
    return bool(widget.get("splitMode", widget.get("split", False)))     # Java's default: merged
