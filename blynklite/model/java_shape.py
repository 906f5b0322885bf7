"""Widgets as the Java server writes them (spec/app.md §5): every field its model class declares, in
declaration order, with Java's defaults where the app sent nothing.

Jackson (as upstream configures it) writes primitives always (an absent `color` is `0`, `tabId` `0`,
`pin` `-1`, `min` `0.0`), omits nulls, empty strings, empty lists and empty maps, and writes a float
field as a float. The table below lists, per widget type, the fields after the common ones and their
defaults (None: written only when the app gave a value). Fields upstream does not know are kept after
the known ones, so nothing the app stored is lost.

Invariant: `widget_json` never changes the stored widget; it builds the JSON view from it.
"""
from .json_shape import _is_empty

BASE = (("id", 0), ("x", 0), ("y", 0), ("color", 0), ("width", 0), ("height", 0), ("tabId", 0),
        ("label", None), ("isDefaultColor", False))
ONE_PIN = BASE + (("deviceId", 0), ("pinType", None), ("pin", -1), ("pwmMode", False),
                  ("rangeMappingOn", False), ("min", 0.0), ("max", 0.0), ("value", None))
MULTI_PIN = BASE + (("deviceId", 0),)
NO_PIN = BASE
# A data stream (the `pins` of RGB, Joystick and LCD, a tile's `pin`).
DATA_STREAM = (("pin", -1), ("pwmMode", False), ("rangeMappingOn", False), ("pinType", None), ("value", None),
               ("min", 0.0), ("max", 0.0), ("label", None))

# type → (common fields, the type's own fields), from upstream's model classes (0.41.x).
FIELDS = {
    "BUTTON": (ONE_PIN, (('pushMode', False), ('onLabel', None), ('offLabel', None), ('fontSize', None))),
    "STYLED_BUTTON": (ONE_PIN, (
        ('pushMode', False), ('onButtonState', None), ('offButtonState', None), ('fontSize', None),
        ('edge', None), ('buttonStyle', None), ('lockSize', False),
    )),
    "LINK_BUTTON": (NO_PIN, (
        ('url', None), ('onButtonState', None), ('offButtonState', None), ('fontSize', None), ('edge', None),
        ('buttonStyle', None), ('lockSize', False), ('showAddressBar', False), ('showNavigationBar', False),
        ('allowInBrowser', False),
    )),
    "TEXT_INPUT": (ONE_PIN, (('hint', None), ('limit', 0), ('fontSize', None))),
    "NUMBER_INPUT": (ONE_PIN, (('suffix', None), ('step', 0.0), ('isLoopOn', False), ('fontSize', None))),
    "SLIDER": (ONE_PIN, (
        ('sendOnReleaseOn', False), ('frequency', 0), ('maximumFractionDigits', 0), ('showValueOn', True),
    )),
    "VERTICAL_SLIDER": (ONE_PIN, (
        ('sendOnReleaseOn', False), ('frequency', 0), ('maximumFractionDigits', 0), ('showValueOn', True),
    )),
    "RGB": (MULTI_PIN, (('pins', None), ('splitMode', False), ('sendOnReleaseOn', False), ('frequency', 0))),
    "TIMER": (ONE_PIN, (
        ('startTime', -1), ('startValue', None), ('stopTime', -1), ('stopValue', None), ('fontSize', None),
    )),
    "TWO_AXIS_JOYSTICK": (MULTI_PIN, (
        ('pins', None), ('split', False), ('autoReturnOn', False), ('portraitLocked', False),
        ('frequency', 0),
    )),
    "TERMINAL": (ONE_PIN, (
        ('autoScrollOn', False), ('terminalInputOn', False), ('textLightOn', False),
        ('attachNewLine', False),
    )),
    "STEP": (ONE_PIN, (
        ('step', 0.0), ('isArrowsOn', False), ('isLoopOn', False), ('isSendStep', False), ('frequency', 0),
        ('showValueOn', True),
    )),
    "VERTICAL_STEP": (ONE_PIN, (
        ('step', 0.0), ('isArrowsOn', False), ('isLoopOn', False), ('isSendStep', False), ('frequency', 0),
        ('showValueOn', True),
    )),
    "QR": (ONE_PIN, ()),
    "TIME_INPUT": (ONE_PIN, (
        ('format', None), ('days', None), ('startAt', -1), ('stopAt', -1), ('tzName', None),
        ('isStartStopAllowed', False), ('isDayOfWeekAllowed', False), ('isSunsetSunriseAllowed', False),
        ('isTimezoneAllowed', False),
    )),
    "SEGMENTED_CONTROL": (ONE_PIN, (('labels', None), ('fontSize', None))),
    "SWITCH": (ONE_PIN, (
        ('onLabel', None), ('offLabel', None), ('offBackgroundColor', 0), ('onBackgroundColor', 0),
        ('handleColor', 0), ('fontSize', None),
    )),
    "LED": (ONE_PIN, ()),
    "DIGIT4_DISPLAY": (ONE_PIN, (('frequency', 0), ('fontSize', None))),
    "LABELED_VALUE_DISPLAY": (ONE_PIN, (
        ('frequency', 0), ('textAlignment', None), ('valueFormatting', None), ('fontSize', None),
    )),
    "GAUGE": (ONE_PIN, (('frequency', 0), ('valueFormatting', None), ('fontSize', None))),
    "LCD": (MULTI_PIN, (
        ('pins', None), ('advancedMode', False), ('textFormatLine1', None), ('textFormatLine2', None),
        ('textLight', False), ('frequency', 0),
    )),
    "LEVEL_DISPLAY": (ONE_PIN, (('frequency', 0), ('isAxisFlipOn', False), ('showValueOn', True))),
    "VERTICAL_LEVEL_DISPLAY": (ONE_PIN, (('frequency', 0), ('isAxisFlipOn', False), ('showValueOn', True))),
    "VIDEO": (ONE_PIN, (('url', None), ('forceTCP', False))),
    "ENHANCED_GRAPH": (NO_PIN, (
        ('dataStreams', None), ('period', None), ('textAlignment', None), ('fontSize', None),
        ('stacking', None), ('showTitle', False), ('showLegend', False), ('yAxisValues', False),
        ('xAxisValues', False), ('showXAxis', False), ('allowFullScreen', False), ('overrideYAxis', False),
        ('hideGradient', False), ('yAxisMin', 0.0), ('yAxisMax', 0.0), ('isPercentMaxMin', False),
        ('goalText', None), ('goalLine', None), ('lineType', None), ('selectedPeriods', None),
    )),
    "GPS_TRIGGER": (ONE_PIN, (
        ('triggerOnEnter', False), ('triggerLat', 0.0), ('triggerLon', 0.0), ('triggerRadius', 0),
        ('accuracy', 0),
    )),
    "GPS_STREAMING": (ONE_PIN, (('accuracy', 0), ('frequency', 0), ('interval', 0))),
    "LIGHT": (ONE_PIN, (('frequency', 0),)),
    "PROXIMITY": (ONE_PIN, (('frequency', 0),)),
    "TEMPERATURE": (ONE_PIN, (('isCelsius', False), ('frequency', 0))),
    "ACCELEROMETER": (ONE_PIN, (('frequency', 0),)),
    "GRAVITY": (ONE_PIN, (('frequency', 0),)),
    "BAROMETER": (ONE_PIN, (('frequency', 0),)),
    "HUMIDITY": (ONE_PIN, (('frequency', 0),)),
    "TWITTER": (NO_PIN, (('token', None), ('secret', None), ('username', None))),
    "EMAIL": (NO_PIN, (('to', None), ('contentType', 'TEXT_HTML'))),
    "NOTIFICATION": (NO_PIN, (
        ('androidTokens', None), ('iOSTokens', None), ('notifyWhenOffline', False),
        ('notifyWhenOfflineIgnorePeriod', 0), ('priority', None), ('soundUri', None),
    )),
    "SMS": (NO_PIN, (('to', None),)),
    "MENU": (ONE_PIN, (
        ('labels', None), ('hint', None), ('alignment', None), ('fontSize', None), ('iconColor', 0),
    )),
    "TABS": ((), (
        ('id', 0), ('x', 0), ('y', 0), ('width', 0), ('height', 0), ('tabId', 0), ('label', None),
        ('isDefaultColor', False), ('tabs', None), ('color', 0), ('activeTxtColor', 0),
        ('underlineColor', 0), ('textColor', 0),
    )),
    "PLAYER": (ONE_PIN, (('isOnPlay', False),)),
    "TABLE": (ONE_PIN, (
        ('columns', None), ('rows', None), ('currentRowIndex', 0), ('isReoderingAllowed', False),
        ('isClickableRows', False),
    )),
    "IMAGE": (ONE_PIN, (
        ('source', None), ('scaling', None), ('urls', None), ('opacity', 0), ('scale', 0), ('rotation', 0),
    )),
    "REPORT": (NO_PIN, (
        ('reportSources', None), ('allowEndUserToDeleteDataOn', False), ('fontSize', 'MEDIUM'),
        ('edge', 'ROUNDED'), ('buttonStyle', 'SOLID'), ('textColor', 0), ('reports', None),
    )),
    "RTC": (NO_PIN, (('tzName', None),)),
    "BRIDGE": (NO_PIN, ()),
    "BLUETOOTH": (NO_PIN, (('name', None), ('deviceId', 0))),
    "BLUETOOTH_SERIAL": (NO_PIN, (('name', None), ('deviceId', 0))),
    "EVENTOR": (NO_PIN, (('rules', None), ('deviceId', 0))),
    "MAP": (ONE_PIN, (
        ('isPinToLatestPoint', False), ('isMyLocationSupported', False), ('isSatelliteMode', False),
        ('labelFormat', None), ('radius', 0), ('lat', 0.0), ('lon', 0.0),
    )),
    "DEVICE_SELECTOR": (NO_PIN, (
        ('value', 0), ('value', 0), ('deviceIds', None), ('fontSize', None), ('iconColor', 0),
        ('showIcon', False), ('hint', None),
    )),
    "DEVICE_TILES": (NO_PIN, (
        ('templates', None), ('tiles', None), ('rows', 0), ('columns', 0), ('sortType', None),
        ('alignment', 'LEFT'), ('disableWhenOffline', False), ('stretchToBottom', False),
    )),
    "TEXT": (NO_PIN, (('textSize', 'AUTO'), ('alignment', None), ('text', None))),
    "WEBHOOK": (ONE_PIN, (('url', None), ('method', 'GET'), ('headers', None), ('body', None))),
}


# Device Tiles templates (upstream's TileTemplate subtypes, told apart by `mode`; no mode is PAGE). Jackson
# writes the type id first, then the @JsonCreator parameters in their order, then the other fields (the
# base class's `pin` before a subtype's own), so `pin` follows the creator fields.
TEMPLATE_BASE = (("id", 0), ("widgets", None), ("deviceIds", None), ("templateId", None), ("name", None),
                 ("iconName", None), ("boardType", None), ("showDeviceName", False))
TEMPLATE_FIELDS = {
    "PAGE": TEMPLATE_BASE + (
        ("valueName", None), ("valueFormatting", None), ("valueSuffix", None), ("color", 0), ("tileColor", 0),
        ("fontSize", None), ("showTileLabel", False), ("maximumFractionDigits", 0), ("pin", None),
    ),
    "BUTTON": TEMPLATE_BASE + (
        ("pushMode", False), ("labelsVisibility", False), ("stateOn", None), ("stateOff", None), ("pin", None),
    ),
    "DIMMER": TEMPLATE_BASE + (
        ("valueName", None), ("valueFormatting", None), ("valueSuffix", None), ("color", 0), ("tileColor", 0),
        ("showTileLabel", False), ("maximumFractionDigits", 0), ("levelColor", 0), ("pin", None),
        ("interaction", "PAGE"), ("step", 1.0),
    ),
}
DEFAULT_TEMPLATE_MODE = "PAGE"   # upstream's defaultImpl for a template without `mode`
# A button template's stateOn/stateOff (upstream's State).
STATE = (("tileColor", 0), ("iconName", None), ("iconColor", 0), ("text", None), ("textColor", 0))
TILE = (("deviceId", 0), ("templateId", 0), ("iconName", None), ("pin", None))


def widget_json(widget):
    """The widget in Java's shape (a new dict; nested widgets of Device Tiles templates too)."""
    entry = FIELDS.get(widget.get("type") or "BUTTON")
    if entry is None:
        return widget
    common, own = entry
    out = {"type": widget.get("type") or "BUTTON"}
    for name, default in common + own:
        _put(out, name, widget.get(name), default)
    for name, value in widget.items():
        if name not in out and not _is_empty(value):
            out[name] = value
    if isinstance(out.get("pins"), list):
        out["pins"] = [stream_json(s) for s in out["pins"]]
    if out["type"] == "DEVICE_TILES":
        _shape_tiles(out)
    return out


def is_assigned_to_device(widget, device_id):
    """Upstream's Widget.isAssignedToDevice: a one- or multi-pin widget by its `deviceId` (Java's default 0),
    a Device Selector by its `deviceIds`; other widgets (Device Tiles, charts, no-pin widgets) never.
    A type upstream does not know is matched by its `deviceId`, so nothing is dropped because of it."""
    kind = widget.get("type") or "BUTTON"
    if kind == "DEVICE_SELECTOR":
        return device_id in (widget.get("deviceIds") or ())
    entry = FIELDS.get(kind)
    if entry is not None and entry[0] not in (ONE_PIN, MULTI_PIN):
        return False
    return (widget.get("deviceId") or 0) == device_id


def stream_json(stream):
    if not isinstance(stream, dict):
        return stream
    out = {}
    for name, default in DATA_STREAM:
        _put(out, name, stream.get(name), default)
    out.update((k, v) for k, v in stream.items() if k not in out and not _is_empty(v))
    return out


def _put(out, name, value, default):
    if value is None or (default is None and _is_empty(value)):
        if default is not None:
            out[name] = default
        return
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    out[name] = value


def _shape_tiles(out):
    templates = [template_json(t) for t in out.get("templates") or ()]
    tiles = [_ordered(t, TILE) if isinstance(t, dict) else t for t in out.get("tiles") or ()]
    for key, value in (("templates", templates), ("tiles", tiles)):
        if value:
            out[key] = value
        else:
            out.pop(key, None)


def template_json(template):
    """A tile template in Java's shape: `mode` first, then its subtype's fields with Java's defaults."""
    if not isinstance(template, dict):
        return template
    mode = template.get("mode") or DEFAULT_TEMPLATE_MODE
    fields = TEMPLATE_FIELDS.get(mode)
    if fields is None:
        return template
    out = _ordered(template, fields, {"mode": mode})
    if "widgets" in out:
        out["widgets"] = [widget_json(w) for w in out["widgets"] if isinstance(w, dict)] or None
        if out["widgets"] is None:
            del out["widgets"]
    for key in ("stateOn", "stateOff"):
        if isinstance(out.get(key), dict):
            out[key] = _ordered(out[key], STATE)
    return out


def _ordered(data, fields, out=None):
    """`data`'s fields in `fields` order with their defaults, a `pin` as a data stream, unknown keys after."""
    out = {} if out is None else out
    for name, default in fields:
        _put(out, name, data.get(name), default)
    out.update((k, v) for k, v in data.items() if k not in out and not _is_empty(v))
    if isinstance(out.get("pin"), dict):
        out["pin"] = stream_json(out["pin"])
    return out
