"""Helpers shared by the codec property tests: cutting a stream into chunks, and a hang guard."""
import contextlib
import signal

from hypothesis import strategies as st


def cut(data, draw, max_cuts=12):
    """`data` split at up to `max_cuts` points that hypothesis chooses."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=max_cuts)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@contextlib.contextmanager
def never_hangs(seconds=10):
    """Fail instead of hanging: a few hundred bytes take milliseconds, so 10 s means a loop."""
    def expire(signum, frame):
        raise AssertionError(f"still parsing after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
