"""The allocation-light recorded-write path and the compact stream registry (issue 10's speed and memory
targets), on a real Server object (reactor, hub, watchers, history) that does not listen: a logged pin's
stream is its own watcher index entry, keyed by the very string the stream holds; watchers get plain
arguments; a broken watcher still never disturbs the others; forgetting and flushing work on the
grouped registry."""
import os
import time

import pytest

from blynklite.config import ServerConfig
from blynklite.history import files
from blynklite.history.recorder import History, pin_of
from blynklite.model.user import User
from blynklite.model.watchers import DEVICE, HTTP, Fanout, PinWatchers, Watch, index_key
from blynklite.server import Server

MIN = 60_000
HOUR = 3_600_000


@pytest.fixture
def server(tmp_path):
    config = ServerConfig({"data.folder": str(tmp_path)})
    srv = Server(config, str(tmp_path), None)
    srv.history = History(srv)
    srv.watchers.add_provider(srv.history.pins_of)
    yield srv
    srv.workers.shutdown(wait=True)
    srv.reactor.close()


def account(server, email="c@x.y", devices=3, extra_widgets=()):
    streams = [{"targetId": i, "pin": {"pin": 1, "pinType": "VIRTUAL"}} for i in range(devices)]
    user = User.from_json({"email": email, "appName": "Blynk", "profile": {"dashBoards": [
        {"id": 4, "isActive": True, "devices": [{"id": i, "token": f"{email[0]}{i:031d}"} for i in range(devices)],
         "widgets": [{"type": "ENHANCED_GRAPH", "id": 7, "dataStreams": streams}, *extra_widgets]}]}})
    server.hub.add_user(user)
    return user, user.profile.dashboards[0]


def write(server, user, dash, device, value, pin=1, source=DEVICE):
    server.watchers.written(user, dash, device, "VIRTUAL", pin, index_key(dash.id, device, "VIRTUAL", pin),
                            value, source)


def test_a_logged_pin_maps_straight_to_its_stream_keyed_by_the_same_string(server):
    user, dash = account(server)
    write(server, user, dash, 0, "21.5")
    entry = server.watchers.watched(user, dash, index_key(4, 0, "VIRTUAL", 1))
    assert isinstance(entry, Watch) and not isinstance(entry, Fanout)     # no tuple, no wrapper
    assert entry is server.history.find("c@x.y", "Blynk", 4, 0, "VIRTUAL", 1)
    key = next(k for k in dash.watch_index if k == entry.ref)
    assert key is entry.ref                          # one string per pin, shared by index and registry
    assert (entry.m_cnt, entry.m_sum) == (1, 21.5)
    write(server, user, dash, 0, "not a number")
    write(server, user, dash, 0, "1.5")
    assert (entry.m_cnt, entry.m_sum) == (2, 23.0)
    assert server.watchers.watched(user, dash, index_key(4, 0, "VIRTUAL", 2)) is None


def test_a_pin_also_watched_by_a_callable_gets_one_fanout_with_plain_arguments(server):
    user, dash = account(server)
    heard = []
    server.watchers.add_provider(lambda u, d: [(1, "VIRTUAL", 1, lambda *args: heard.append(args))])
    write(server, user, dash, 1, "7", source=HTTP)
    entry = server.watchers.watched(user, dash, index_key(4, 1, "VIRTUAL", 1))
    assert isinstance(entry, Fanout) and len(entry.watchers) == 2
    assert heard == [(user, dash, 1, "VIRTUAL", 1, "7", HTTP, None)]
    assert server.history.find("c@x.y", "Blynk", 4, 1, "VIRTUAL", 1).m_sum == 7.0


def test_a_failing_watch_is_logged_and_every_write_watchers_still_run(capfd):
    from blynklite.hub import Hub
    user = User.from_json({"email": "w@x.y", "profile": {"dashBoards": [
        {"id": 1, "devices": [{"id": 0, "token": "t" * 32}]}]}})
    hub = Hub({"initial.energy": 1000})
    hub.add_user(user)
    dash = user.profile.dashboards[0]

    class Broken(Watch):
        __slots__ = ()

        def pin_written(self, *write):
            raise RuntimeError("boom")
    watchers, seen = PinWatchers(hub), []
    watchers.add_provider(lambda u, d: [(0, "VIRTUAL", 1, Broken())])
    watchers.watch_every_write(lambda *write: seen.append(write[5]))
    watchers.written(user, dash, 0, "VIRTUAL", 1, index_key(1, 0, "VIRTUAL", 1), "3", DEVICE)
    assert seen == ["3"]
    err = capfd.readouterr().err
    assert "pin watcher" in err and "RuntimeError: boom" in err


def test_pin_of_reads_back_every_index_key():
    for dash_id, device_id, pin_type, pin in ((0, 0, "VIRTUAL", 0), (12, 345, "DIGITAL", 13), (7, 1, "ANALOG", 255)):
        assert pin_of(index_key(dash_id, device_id, pin_type, pin)) == (device_id, pin_type, pin)


def test_forget_a_device_then_flush_writes_the_others_under_their_own_names(server):
    user, dash = account(server)
    history = server.history
    start = server.reactor.wall_ms // HOUR * HOUR + MIN      # not an hour's last minute: only minutes close
    history.stamp = start + 1000
    for device in range(3):
        write(server, user, dash, device, str(device + 1))
    history.stamp = None
    history.device_deleted(user, 4, 1)
    assert sorted(k[3] for k in history.streams) == [0, 2]
    server.reactor.wall_ms = start + MIN + 1000
    history.flush()
    deadline = time.monotonic() + 10
    while history.pending_writes() and time.monotonic() < deadline:     # slices, then the worker's append
        server.reactor.call_later(0.05, lambda: None)      # a bound on each round's wait
        server.reactor.run_once()
    folder = history.user_folder(user)
    assert sorted(os.listdir(folder)) == [files.file_name(4, 0, "VIRTUAL", 1, "minute"),
                                          files.file_name(4, 2, "VIRTUAL", 1, "minute")]
    for device, value in ((0, 1.0), (2, 3.0)):
        path = os.path.join(folder, files.file_name(4, device, "VIRTUAL", 1, "minute"))
        assert files.unpack(files.read_window(path, 10)) == [(value, start)]
    history.user_deleted(user)
    assert history.streams == {} and history.groups == {}
