"""What the server does on its own (spec/behaviours.md §8): reading widgets, Timers, the Eventor and
WebHooks, wired to the rest of the server in one place.

Owns: the one-second job (timers, then reading widgets), aligned to the wall clock's second, and the
registration of the Eventor and WebHook pin watchers (model/watchers.py). Never does: anything on a
write to a pin nobody watches; blocking I/O on the reactor thread (webhooks and notifications run on
the worker pool).

Invariant: everything here runs on the reactor thread and reads time from the reactor
(`reactor.now`, `reactor.wall_ms`), so a `SteppedClock` drives all of it.
"""
from ..logger import get_logger
from .eventor import Eventor
from .reading import ReadingWidgets
from .timers import TimerSchedule
from .webhooks import WebHooks

log = get_logger("blynklite.automation")

# Past the second boundary by this much, so a tick never lands a hair before the second it runs.
TICK_MARGIN_MS = 5
# Compiled per-widget state of widgets no longer in any profile is dropped this often.
CLEANUP_PERIOD = 600.0


class Automation:
    def __init__(self, server):
        self.server = server
        self.eventor = Eventor(server)
        self.webhooks = WebHooks(server)
        self.timers = TimerSchedule(server, self.eventor)
        self.reading = ReadingWidgets(server)
        self._job = None
        server.watchers.add_provider(self.eventor.watched_pins)
        server.watchers.add_provider(self.webhooks.watched_pins)
        server.hub.profile_listeners.append(self.profile_changed)

    def start(self):
        self.timers.load_all()
        self._schedule_tick()
        self.server.reactor.call_every(CLEANUP_PERIOD, self.cleanup)

    def stop(self):
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def profile_changed(self, user):
        """An account's dashboards, widgets, devices or tiles changed (Hub.mark_dirty)."""
        self.timers.user_changed(user)
        self.reading.user_changed(user)

    def _schedule_tick(self):
        reactor = self.server.reactor
        delay_ms = 1000 - reactor.wall_ms % 1000 + TICK_MARGIN_MS
        self._job = reactor.call_later(delay_ms / 1000, self._tick)

    def _tick(self):
        reactor = self.server.reactor
        try:
            self.timers.tick(reactor.wall_ms)
            self.reading.tick(int(reactor.now * 1000))
        finally:
            self._schedule_tick()

    def run_due(self):
        """Run the job now, without moving its schedule (after the wall clock was stepped)."""
        reactor = self.server.reactor
        reactor.update_time()
        self.timers.tick(reactor.wall_ms)
        self.reading.tick(int(reactor.now * 1000))

    def cleanup(self):
        live = [w for user in self.server.hub.users.values() for dash in user.profile.dashboards
                for w in dash.widgets]
        self.eventor.forget_unused(live)
        self.reading.forget_unused(live)
        self.webhooks.forget_unused(live)


def validate_widget(widget):
    """ValueError when an Eventor, Timer, WebHook or Table widget's JSON would be refused upstream."""
    from . import eventor, timers, webhooks
    kind = widget.get("type")
    if kind == "EVENTOR":
        eventor.validate(widget)
    elif kind == "TIMER":
        timers.validate(widget)
    elif kind == "WEBHOOK":
        webhooks.validate(widget)
    elif kind == "TABLE":
        from ..model import table
        table.validate(widget)
