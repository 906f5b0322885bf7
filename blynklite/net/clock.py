"""The clock: the one source of time for the reactor (`reactor.now`, `reactor.wall_ms`) and everything
it schedules.

Owns: reading the monotonic and the wall clock. Never does: sleeping or scheduling (the reactor does).

Invariant: `monotonic()` never goes backwards, whatever happens to the wall clock; feature code reads
time only through the reactor (`reactor.now`, `reactor.wall_ms`), so swapping the clock here moves
every timer, quota and schedule together. `SteppedClock` lets a test step the wall clock to any
instant (and the reactor's clock forward), so a whole day of timers runs in milliseconds on the real
reactor and real sockets.
"""
import time


class SystemClock:
    """The real clocks of the machine."""
    __slots__ = ()

    @staticmethod
    def monotonic():
        return time.monotonic()

    @staticmethod
    def wall():
        return time.time()


class SteppedClock:
    """The real clocks plus an offset that only `jump`/`set_wall` change.

    Between jumps time flows at the real rate, so idle timeouts and poll waits behave as in
    production. `jump` and `set_wall` must run on the reactor thread (post them with
    `reactor.call_soon_threadsafe`) so that a reactor round never sees half a jump.
    """
    __slots__ = ("_mono_offset", "_wall_offset")

    def __init__(self, wall=None):
        self._mono_offset = 0.0
        self._wall_offset = 0.0
        if wall is not None:
            self.set_wall(wall)

    def monotonic(self):
        return time.monotonic() + self._mono_offset

    def wall(self):
        return time.time() + self._wall_offset

    def jump(self, seconds):
        """Move both clocks forward (never back) by `seconds`."""
        seconds = max(0.0, float(seconds))
        self._mono_offset += seconds
        self._wall_offset += seconds

    def set_wall(self, epoch_seconds):
        """Make the wall clock read `epoch_seconds` now, as an NTP step or a user setting the date
        would: the monotonic clock does not move, so idle timeouts and quotas are unaffected."""
        self._wall_offset += float(epoch_seconds) - self.wall()
