"""The per-pin watcher index (model/watchers.py) and the injectable clock (net/clock.py), on real
model objects; the end-to-end paths are in the other test_automation_* files."""
import time

from blynklite.hub import Hub
from blynklite.model.user import User
from blynklite.model.watchers import APP, DEVICE, PinWatchers, index_key
from blynklite.net.clock import SteppedClock
from blynklite.net.reactor import Reactor


def make_user():
    user = User.from_json({"email": "w@x.y", "profile": {"dashBoards": [
        {"id": 1, "widgets": [{"type": "EVENTOR", "id": 5, "deviceId": 0, "rules": []}],
         "devices": [{"id": 0, "token": "t" * 32}]}]}})
    hub = Hub({"initial.energy": 1000})
    hub.add_user(user)
    return hub, user, user.profile.dashboards[0]


def test_a_watched_pin_reaches_its_callbacks_and_an_unwatched_pin_nobody():
    hub, user, dash = make_user()
    watchers = PinWatchers(hub)
    seen, builds = [], []

    def provider(u, d):
        builds.append(d.id)
        yield 0, "VIRTUAL", 1, lambda *write: seen.append(write)
    watchers.add_provider(provider)
    watchers.written(user, dash, 0, "VIRTUAL", 1, index_key(1, 0, "VIRTUAL", 1), "42", DEVICE)
    watchers.written(user, dash, 0, "VIRTUAL", 2, index_key(1, 0, "VIRTUAL", 2), "43", DEVICE)
    watchers.written(user, dash, 0, "DIGITAL", 1, index_key(1, 0, "DIGITAL", 1), "1", DEVICE)
    assert [(w[4], w[5], w[6]) for w in seen] == [(1, "42", DEVICE)]   # (user, dash, device, type, pin,
    #                                                                      value, source, origin)
    assert builds == [1]                       # built once, not per write
    dash.widgets_changed()
    watchers.written(user, dash, 0, "VIRTUAL", 1, index_key(1, 0, "VIRTUAL", 1), "44", APP)
    assert builds == [1, 1] and seen[-1][5:7] == ("44", APP)


def test_a_failing_watcher_is_logged_and_the_others_still_run():
    hub, user, dash = make_user()
    watchers = PinWatchers(hub)
    seen = []

    def broken(*write):
        raise RuntimeError("boom")

    def hear(*write):
        seen.append(write)
    watchers.add_provider(lambda u, d: [(0, "VIRTUAL", 1, broken), (0, "VIRTUAL", 1, hear)])
    watchers.add_provider(lambda u, d: 1 / 0)      # a broken provider costs only its own pins
    watchers.watch_every_write(hear)
    watchers.written(user, dash, 0, "VIRTUAL", 1, index_key(1, 0, "VIRTUAL", 1), "7", DEVICE)
    assert len(seen) == 2
    watchers.written(user, dash, 3, "VIRTUAL", 9, index_key(1, 3, "VIRTUAL", 9), "8", DEVICE)
    assert len(seen) == 3 and seen[-1][2] == 3     # every-write watchers hear every pin


def test_a_provider_added_later_rebuilds_existing_indexes():
    hub, user, dash = make_user()
    watchers = PinWatchers(hub)
    key = index_key(1, 0, "VIRTUAL", 1)
    assert watchers.watched(user, dash, key) is None
    watchers.add_provider(lambda u, d: [(0, "VIRTUAL", 1, print)])
    assert watchers.watched(user, dash, key).watchers == (print,)


def test_the_stepped_clock_moves_the_reactor_forward_and_never_back():
    clock = SteppedClock(wall=1_700_000_000)
    reactor = Reactor(clock)
    try:
        fired = []
        reactor.call_later(3600, fired.append, "an hour later")
        reactor.call_soon(clock.jump, 3600)
        started = time.monotonic()
        while not fired and time.monotonic() - started < 2:
            reactor.run_once()
        assert fired == ["an hour later"]
        assert abs(reactor.wall_ms / 1000 - (1_700_000_000 + 3600)) < 2
        before = clock.monotonic()
        clock.set_wall(1_600_000_000)              # the wall clock steps back, monotonic time does not
        assert before <= clock.monotonic() < before + 1 and abs(clock.wall() - 1_600_000_000) < 1
    finally:
        reactor.close()
