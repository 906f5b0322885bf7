"""Reading widgets (spec/commands.md §4.12, upstream `ReadingWidgetsWorker`): a display widget with a
`frequency` (ms) asks its device for the pin's value, `HARDWARE(7778, "<t>r\\0pin")`, at that interval,
and the device answers with an ordinary write (`BLYNK_READ` in a sketch).

Owns: when each widget last asked (in memory, keyed by the widget) and, per dashboard, the list of
its reading widgets (rebuilt when the account's profile changes). Never does: asking a device that is
offline, on an inactive dashboard, whose buffer the message would not fit, or whose connection is
backed up; asking when no app is connected unless `allow.reading.widget.without.active.app`.

Invariant: a tick costs O(reading widgets of connected devices), nothing for accounts without a
connected device.
"""
from ..codec.body import PIN_LETTERS
from ..codec.commands import Command, MsgId
from ..logger import get_logger
from . import targets

log = get_logger("blynklite.reading")

# Upstream's FrequencyWidget implementations: OnePinReadingWidget subclasses and the LCD.
READING_TYPES = frozenset(("DIGIT4_DISPLAY", "LABELED_VALUE_DISPLAY", "GAUGE", "LEVEL_DISPLAY",
                           "VERTICAL_LEVEL_DISPLAY", "LCD"))
# A Device Tiles tile asks for its template's reading widgets this often, whatever their frequency
# (upstream `Tile.isTicked`, hard-coded there too).
TILE_PERIOD_MS = 1000


def read_bodies(widget):
    """The read request(s) of a widget: one per valid pin (the LCD asks for each of its pins)."""
    streams = widget.get("pins") if widget.get("type") == "LCD" else [widget]
    bodies = []
    for stream in streams or ():
        if isinstance(stream, dict) and stream.get("pinType") in PIN_LETTERS and isinstance(stream.get("pin"), int) \
                and stream["pin"] >= 0:
            bodies.append(f"{PIN_LETTERS[stream['pinType']]}r\0{stream['pin']}".encode())
    return bodies


def reading_bodies(widget):
    """The read requests of a reading widget with a frequency, else []."""
    if not isinstance(widget, dict) or widget.get("type") not in READING_TYPES:
        return []
    frequency = widget.get("frequency")
    if not isinstance(frequency, int) or isinstance(frequency, bool) or frequency <= 0:
        return []
    return read_bodies(widget)


class ReadingWidgets:
    def __init__(self, server):
        self.server = server
        self.without_app = bool(server.config["allow.reading.widget.without.active.app"])
        self._by_dash = {}       # id(dash) -> (dash, [(widget, frequency ms, [bodies])])
        self._last_ask = {}      # id(widget) -> (widget, monotonic ms of the last request)
        self.sent = 0

    def user_changed(self, user):
        for dash in user.profile.dashboards:
            self._by_dash.pop(id(dash), None)

    def _widgets_of(self, dash):
        """[(widget, frequency ms, read bodies)]; a Device Tiles widget has frequency None."""
        entry = self._by_dash.get(id(dash))
        if entry is None or entry[0] is not dash:
            found = []
            for widget in dash.widgets:
                bodies = reading_bodies(widget)
                if bodies:
                    found.append((widget, widget["frequency"], bodies))
                elif widget.get("type") == "DEVICE_TILES":
                    found.append((widget, None, ()))
            entry = self._by_dash[id(dash)] = (dash, found)
        return entry[1]

    def tick(self, now_ms):
        for user_session in list(self.server.hub.sessions.values()):
            if user_session.hardware and (self.without_app or user_session.apps):
                for hw in list(user_session.hardware):
                    if hw.dash.is_active and hw.conn.writable:
                        self._ask(hw, now_ms)

    def _ask(self, hw, now_ms):
        dash, device_id = hw.dash, hw.device.id
        for widget, frequency, bodies in self._widgets_of(dash):
            if frequency is None:
                self._ask_tiles(hw, widget, now_ms)
                continue
            if not targets.targets_device(dash, widget.get("deviceId") or 0, device_id):
                continue
            if not self._ticked(widget, frequency, now_ms):
                continue
            for body in bodies:
                if hw.deliver(Command.HARDWARE, MsgId.READING_WIDGET, body):
                    self.sent += 1

    def _ask_tiles(self, hw, tiles, now_ms):
        """Upstream `processDeviceTile`: each tile of this device asks for its template's reading
        widgets once a second."""
        for tile in tiles.get("tiles") or ():
            if not isinstance(tile, dict) or tile.get("deviceId") != hw.device.id:
                continue
            if not self._ticked(tile, TILE_PERIOD_MS, now_ms):
                continue
            for template in tiles.get("templates") or ():
                if isinstance(template, dict) and template.get("id") == tile.get("templateId"):
                    for widget in template.get("widgets") or ():
                        for body in reading_bodies(widget):
                            if hw.deliver(Command.HARDWARE, MsgId.READING_WIDGET, body):
                                self.sent += 1

    def _ticked(self, widget, frequency, now_ms):
        """Upstream `isTicked`: due when `frequency` ms passed since it last asked (any device)."""
        last = self._last_ask.get(id(widget))
        if last is not None and last[0] is widget and now_ms < last[1] + frequency:
            return False
        self._last_ask[id(widget)] = (widget, now_ms)
        return True

    def forget_unused(self, live_widgets):
        live = {id(w) for w in live_widgets}
        for key in [k for k in self._last_ask if k not in live]:
            del self._last_ask[key]
