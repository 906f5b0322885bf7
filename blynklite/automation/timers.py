"""Timers (spec/behaviours.md §8, upstream `TimerWorker`): Timer widgets, Timers inside Device Tiles
templates and time-triggered Eventor rules, fired at their second of the day.

What it promises about time: the clock is the reactor's (`reactor.wall_ms`, from net/clock.py). The
job wakes at every wall-clock second and runs the entries registered for the UTC second(s) of the day
that passed since it last ran, in order. A second missed by less than `MAX_CATCH_UP_SECONDS` (a busy
reactor, a short clock step) is run late; a longer gap (the server was down, the clock jumped) is
skipped, as upstream skips it. Timer `startTime`/`stopTime` and Eventor `triggerTime.time` are UTC
seconds of the day; an Eventor rule's `days` are the weekdays (1 = Monday) of the local date in its
`tzName` at that instant, so a daylight-saving change moves the local day exactly as Java's
ZonedDateTime does.

Owns: the per-second table `second of day -> {key: entry}` and, per account, the keys it registered.
An account's entries are registered again when its profile changes (`Hub.mark_dirty` calls
`user_changed`; the work is done once, at the next tick). Never does: scanning widgets on a tick.

Invariant: a tick costs O(entries due in that second); an entry is re-checked against the live
profile when it fires (the account, the dashboard still there and active), never trusted blindly.
"""
from ..codec.body import PIN_LETTERS
from ..codec.commands import MsgId
from ..logger import get_logger
from ..model import watchers as WS
from . import eventor as E
from . import output, targets

log = get_logger("blynklite.timers")

SECONDS_PER_DAY = 86400
# Seconds the job replays after a late tick (a slow round, a GC pause on a Pi). Beyond that the gap
# is the server being down or the clock being set, and upstream does not replay those either.
MAX_CATCH_UP_SECONDS = 30


def valid_time(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < SECONDS_PER_DAY


def validate(widget):
    """ValueError when a Timer widget's JSON would not parse upstream (ints for the times)."""
    for field in ("startTime", "stopTime"):
        value = widget.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{field} must be a number")
    for field in ("startValue", "stopValue"):
        value = widget.get(field)
        if value is not None and not isinstance(value, (str, int, float)):
            raise ValueError(f"{field} must be a string")


class TimerEntry:
    """One thing to do at one second: a Timer's start or stop, or one timed Eventor rule."""
    __slots__ = ("user", "dash", "widget", "value", "tiles", "template_id", "rule")

    def __init__(self, user, dash, widget, value=None, tiles=None, template_id=None, rule=None):
        self.user = user
        self.dash = dash
        self.widget = widget
        self.value = value
        self.tiles = tiles
        self.template_id = template_id
        self.rule = rule


class TimerSchedule:
    def __init__(self, server, eventor):
        self.server = server
        self.eventor = eventor
        self.seconds = {}        # second of day -> {key: TimerEntry}
        self._keys = {}          # user key -> [(second, key)]
        self._changed = set()
        self._last_second = None
        self.fired = 0

    # -- registration ------------------------------------------------------------------------------
    def load_all(self):
        for user in list(self.server.hub.users.values()):
            self.register(user)
        log.info("Timers : %d", self.count())

    def count(self):
        return sum(len(entries) for entries in self.seconds.values())

    def user_changed(self, user):
        self._changed.add(user)

    def register(self, user):
        """(Re-)register every timer of an account from its profile as it is now."""
        self.unregister(user)
        keys = self._keys[user.key] = []
        if self.server.hub.users.get(user.key) is not user:
            return
        for dash in user.profile.dashboards:
            for widget in dash.widgets:
                kind = widget.get("type")
                if kind == "TIMER":
                    self._add_timer(keys, user, dash, widget)
                elif kind == "DEVICE_TILES":
                    for template in widget.get("templates") or ():
                        for inner in (template or {}).get("widgets") or ():
                            if isinstance(inner, dict) and inner.get("type") == "TIMER":
                                self._add_timer(keys, user, dash, inner, widget, template.get("id"))
                elif kind == "EVENTOR":
                    for rule in self.eventor.rules_of(widget):
                        if rule.time is not None and any(a["type"] in E.TIMED_ACTIONS for a in rule.actions):
                            self._add(keys, rule.time, TimerEntry(user, dash, widget, rule=rule))

    def _add_timer(self, keys, user, dash, widget, tiles=None, template_id=None):
        if widget.get("pinType") not in PIN_LETTERS or not isinstance(widget.get("pin"), int):
            return
        for time_field, value_field in (("startTime", "startValue"), ("stopTime", "stopValue")):
            value = widget.get(value_field)
            if valid_time(widget.get(time_field)) and value not in (None, ""):
                self._add(keys, widget[time_field], TimerEntry(user, dash, widget, str(value), tiles, template_id))

    def _add(self, keys, second, entry):
        key = object()
        self.seconds.setdefault(second, {})[key] = entry
        keys.append((second, key))

    def unregister(self, user):
        for second, key in self._keys.pop(user.key, ()):
            entries = self.seconds.get(second)
            if entries is not None:
                entries.pop(key, None)
                if not entries:
                    del self.seconds[second]

    # -- the job -----------------------------------------------------------------------------------
    def tick(self, wall_ms):
        """Run the entries of every UTC second of the day passed since the last tick."""
        if self._changed:
            changed, self._changed = self._changed, set()
            for user in changed:
                self.register(user)
        now = wall_ms // 1000
        last = self._last_second
        if last == now:
            return                      # this second already ran
        # First tick, a clock stepped back, or a gap too long to replay: only the current second.
        first = now if last is None or now < last or now - last > MAX_CATCH_UP_SECONDS else last + 1
        self._last_second = now
        for second in range(first, now + 1):
            entries = self.seconds.get(second % SECONDS_PER_DAY)
            if entries:
                self._fire_all(list(entries.values()), second)

    def _fire_all(self, entries, epoch_second):
        instant = None
        for entry in entries:
            try:
                if not self._live(entry):
                    continue
                if entry.rule is not None:
                    import datetime     # here, not at the top: an idle server never loads it
                    instant = instant or datetime.datetime.fromtimestamp(epoch_second, datetime.timezone.utc)
                    self._fire_rule(entry, instant)
                else:
                    self._fire_timer(entry)
                self.fired += 1
            except Exception as error:
                log.warning("timer of %s failed: %r", entry.user.email, error)

    def _live(self, entry):
        user, dash = entry.user, entry.dash
        return (self.server.hub.users.get(user.key) is user and user.profile.dashboard(dash.id) is dash
                and dash.is_active)

    def _fire_timer(self, entry):
        widget, dash = entry.widget, entry.dash
        if entry.tiles is not None:
            device_ids = [t.get("deviceId") for t in entry.tiles.get("tiles") or ()
                          if isinstance(t, dict) and t.get("templateId") == entry.template_id]
        else:
            device_ids = targets.device_ids(dash, widget.get("deviceId") or 0)
        if device_ids:
            log.debug("timer %s of %s fires %r", widget.get("id"), entry.user.email, entry.value)
            output.set_pin(self.server, entry.user, dash, device_ids, widget, entry.value, MsgId.INTERNAL, WS.TIMER)

    def _fire_rule(self, entry, instant):
        rule = entry.rule
        try:
            local_day = instant.astimezone(E.zone_info(rule.zone)).isoweekday()
        except ValueError:
            local_day = instant.isoweekday()
        if local_day in rule.days:
            self.eventor.run_timed(entry.user, entry.dash, entry.widget, rule)
