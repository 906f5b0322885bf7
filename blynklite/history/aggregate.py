"""Running minute, hour and day averages of one logged pin (upstream AverageAggregatorProcessor), and the
LIVE cache of its last raw values (RawDataCacheForGraphProcessor).

Owns: the `Stream` object and the number rule for what gets aggregated. Never does: I/O, clocks (the
caller passes every timestamp), or looking at widgets.

Invariant (the hot path): `Stream.add` touches only the open minute bucket: one integer division, one
compare, two additions. Hour and day averages are built from closed minutes (sum and count carried up),
which gives the same average as summing every raw value, at a cost paid once per minute per pin.
A bucket is reported (moved to `done`) only once its period is over, as upstream's flush does.
"""
from array import array

from .files import DAILY, HOURLY, MINUTE

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MINUTES_PER_HOUR = 60
MINUTES_PER_DAY = 1440
# LIVE period: upstream keeps the last 60 raw values per pin in memory (never persisted). We keep them
# as a ring of 120 doubles (value, ms stamp; exact below 2**53 ms): 1 KiB per LIVE pin, not 60 tuples.
# A slot never written holds a NaN stamp, so the ring needs no count of how full it is.
LIVE_POINTS = 60
LAST_LIVE_SLOT = 2 * LIVE_POINTS - 2
_EMPTY_RING = array("d", [0.0, float("nan")] * LIVE_POINTS).tobytes()

NUMBER_FIRST = frozenset("+-.0123456789")     # what a number may start and end with (no spaces,
NUMBER_LAST = frozenset(".0123456789")        # no inf/nan spellings)


def parse_number(text):
    """Upstream NumberUtil.parseDouble's rule: sign, digits, fraction, exponent; no spaces, no NaN or
    Infinity, no `\\0` (multi-value writes are never aggregated). None when not a number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if value - value != 0.0 or "_" in text or text[0] not in NUMBER_FIRST or text[-1] not in NUMBER_LAST:
        return None     # inf/nan (value - value is nan), Python-only spellings, surrounding spaces
    return value


_MINUTE = [-1]      # the open minute's int, one object for every stream (32 B per stream saved)


def shared_minute(index):
    """`index` as the one int object every stream opening this minute holds (not a new int each)."""
    held = _MINUTE[0]
    if held != index:
        held = _MINUTE[0] = index
    return held


def new_ring():
    """An empty LIVE ring: LIVE_POINTS (value, ms) pairs of doubles, every stamp NaN."""
    return array("d", _EMPTY_RING)


class Stream:
    """One (account, dashboard, device, pin): the open minute, the hour and day partial sums, closed
    buckets waiting for the flush and, when a chart shows LIVE, the last raw values."""
    __slots__ = ("ref", "m_idx", "m_sum", "m_cnt", "h_sum", "h_cnt", "d_sum", "d_cnt", "done", "live", "late",
                 "live_at")

    def __init__(self, ref, live=False):
        self.ref = ref          # the recorder's key: the pin index key "dash-device-<t><pin>" (a str)
        self.m_idx = -1
        self.m_sum = 0.0
        self.m_cnt = 0
        self.h_sum = 0.0
        self.h_cnt = 0
        self.d_sum = 0.0
        self.d_cnt = 0
        self.done = None        # [(granularity, average, bucket start ms)] since the last flush
        self.live = False if live else None     # the LIVE ring: None = off, False = on but still empty
        self.live_at = 0        # the ring's next slot (the oldest value once the ring is full)
        self.late = None        # {(granularity, index): [sum, count]} for values older than the open minute

    def set_live(self, on):
        if on and self.live is None:
            self.live, self.live_at = False, 0
        elif not on:
            self.live = None

    def live_values(self):
        """The LIVE cache, oldest first: [(value, ts)]."""
        ring, at = self.live, self.live_at
        if not ring:
            return []
        order = list(range(at, 2 * LIVE_POINTS, 2)) + list(range(0, at, 2))
        return [(ring[i], int(ring[i + 1])) for i in order if ring[i + 1] == ring[i + 1]]    # NaN: never written

    def add(self, value, ts):
        """The hot path: one value at `ts` (epoch ms)."""
        index = ts // MINUTE_MS
        if index == self.m_idx:
            self.m_sum += value
            self.m_cnt += 1
        else:
            self._other_minute(index, value)
        if self.live is not None:
            self.add_live(value, ts)

    def add_live(self, value, ts):
        ring = self.live
        if ring is False:
            ring = self.live = new_ring()
        at = self.live_at
        ring[at] = value
        ring[at + 1] = ts
        self.live_at = at + 2 if at != LAST_LIVE_SLOT else 0

    # -- once a minute per pin --------------------------------------------------------------------
    def _other_minute(self, index, value):
        if index < self.m_idx:
            self._add_late(index, value)
            return
        old = self.m_idx
        self._close_minute()
        if old >= 0:
            self._close_if_over(old, index)
        self.m_idx = shared_minute(index)
        self.m_sum = value
        self.m_cnt = 1

    def _close_minute(self):
        if self.m_cnt:
            self._report(MINUTE, self.m_sum / self.m_cnt, self.m_idx * MINUTE_MS)
            self.h_sum += self.m_sum
            self.h_cnt += self.m_cnt
            self.d_sum += self.m_sum
            self.d_cnt += self.m_cnt
            self.m_sum = 0.0
            self.m_cnt = 0

    def _close_if_over(self, old_minute, new_minute):
        """Close the hour and the day of `old_minute` when `new_minute` lies past them."""
        old_hour = old_minute // MINUTES_PER_HOUR
        if self.h_cnt and new_minute // MINUTES_PER_HOUR != old_hour:
            self._report(HOURLY, self.h_sum / self.h_cnt, old_hour * HOUR_MS)
            self.h_sum, self.h_cnt = 0.0, 0
        old_day = old_minute // MINUTES_PER_DAY
        if self.d_cnt and new_minute // MINUTES_PER_DAY != old_day:
            self._report(DAILY, self.d_sum / self.d_cnt, old_day * DAY_MS)
            self.d_sum, self.d_cnt = 0.0, 0

    def _report(self, granularity, average, start_ms):
        if self.done is None:
            self.done = []
        self.done.append((granularity, average, start_ms))

    def _add_late(self, index, value):
        """A value stamped before the open minute (HTTP extra/pin): its own buckets, as upstream keys
        buckets by index; the hour and day still open take it directly."""
        late = self.late
        if late is None:
            late = self.late = {}
        keys = [(MINUTE, index)]
        if index // MINUTES_PER_HOUR == self.m_idx // MINUTES_PER_HOUR:
            self.h_sum += value
            self.h_cnt += 1
        else:
            keys.append((HOURLY, index // MINUTES_PER_HOUR))
        if index // MINUTES_PER_DAY == self.m_idx // MINUTES_PER_DAY:
            self.d_sum += value
            self.d_cnt += 1
        else:
            keys.append((DAILY, index // MINUTES_PER_DAY))
        for key in keys:
            bucket = late.get(key)
            if bucket is None:
                late[key] = [value, 1]
            else:
                bucket[0] += value
                bucket[1] += 1

    def take_completed(self, now_ms):
        """Close every bucket whose period is over at `now_ms` and hand them all over:
        [(granularity, average, bucket start ms)], oldest first per granularity. None when nothing."""
        if self.m_idx >= 0:
            current = now_ms // MINUTE_MS
            if self.m_cnt and self.m_idx < current:
                self._close_minute()
            if (self.h_cnt or self.d_cnt) and self.m_idx < current:
                self._close_if_over(self.m_idx, current)
        done, late = self.done, self.late
        if late:
            done = done or []
            for (granularity, index), (total, count) in sorted(late.items(), key=_late_order):
                done.append((granularity, total / count, index * _PERIOD[granularity]))
            self.late = None
        self.done = None
        return done

    def is_idle(self):
        return not (self.m_cnt or self.h_cnt or self.d_cnt or self.done or self.late)


_PERIOD = {MINUTE: MINUTE_MS, HOURLY: HOUR_MS, DAILY: DAY_MS}


def _late_order(item):
    return item[0][1]
