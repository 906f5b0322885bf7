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


def read_bodies(widget):
    """The read request(s) of a widget: one per valid pin (the LCD asks for each of its pins)."""
    streams = widget.get("pins") if widget.get("type") == "LCD" else [widget]
    bodies = []
    for stream in streams or ():
        if isinstance(stream, dict) and stream.get("pinType") in PIN_LETTERS and isinstance(stream.get("pin"), int) \
                and stream["pin"] >= 0:
            bodies.append(f"{PIN_LETTERS[stream['pinType']]}r\0{stream['pin']}".encode())
    return bodies


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
        entry = self._by_dash.get(id(dash))
        if entry is None or entry[0] is not dash:
            found = []
            for widget in dash.widgets:
                frequency = widget.get("frequency")
                if widget.get("type") in READING_TYPES and isinstance(frequency, int) and frequency > 0:
                    bodies = read_bodies(widget)
                    if bodies:
                        found.append((widget, frequency, bodies))
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
            if not targets.targets_device(dash, widget.get("deviceId") or 0, device_id):
                continue
            if not self._ticked(widget, frequency, now_ms):
                continue
            for body in bodies:
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
