"""History end to end: a blynklib device writes, the app reads the SuperChart back (LIVE from memory,
the other periods from the Java history files the minute flush appends), on a server whose clock the
test moves forward. A Java-format file already in the data folder loads unchanged and keeps growing."""
import contextlib
import json
import struct
import time
import zlib

import pytest

from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status

from history_support import SteppedServer

blynklib = pytest.importorskip("blynklib")

WAIT = 10.0
MIN_MS = 60_000
HOUR_MS = 3_600_000
PASSWORD = "history-pass"
# A fixed start, mid-minute and well inside an hour, so one jump closes exactly what a test expects.
START = 1_767_225_600 + 10 * 3600 + 5 * 60 + 20      # 2026-01-01 10:05:20 UTC


def chart(widget_id, *streams, periods=("LIVE", "ONE_HOUR", "N_DAY", "N_WEEK")):
    return {"type": "ENHANCED_GRAPH", "id": widget_id, "x": 0, "y": 0, "width": 8, "height": 4,
            "selectedPeriods": list(periods),
            "dataStreams": [{"targetId": t, "pin": {"pin": p, "pinType": "VIRTUAL"}, "functionType": f}
                            for t, p, f in streams]}


class Device:
    """blynklib 0.2.6, pumped from the test thread (it has no thread of its own)."""

    def __init__(self, host, port, token):
        self.lib = blynklib.Blynk(token, server=host, port=port, heartbeat=30)
        self.lib._events = {}
        deadline = time.monotonic() + WAIT
        while not self.lib.connected() and time.monotonic() < deadline:
            self.lib.run()
        assert self.lib.connected(), "blynklib did not connect"

    def write(self, pin, *values):
        self.lib.virtual_write(pin, *values)
        self.lib.run()

    def close(self):
        self.lib.disconnect()


@pytest.fixture
def stepped(tmp_path):
    server = SteppedServer(tmp_path / "s", wall=START)
    yield server
    server.stop()


def login(server, email="hist@example.com", register=False):
    app = AppClient(server.host, server.app_port, timeout=WAIT)
    if register:
        assert app.register(email, PASSWORD) == Status.OK
    assert app.login(email, PASSWORD) == Status.OK
    return app


def open_project(server, widgets, devices=1, email="hist@example.com"):
    app = login(server, email, register=True)
    assert app.create_dash(1, "History") == Status.OK
    tokens = [app.create_device(1, i, f"dev{i}")["token"] for i in range(devices)]
    for widget in widgets:
        assert app.request(Command.CREATE_WIDGET, "1\0" + json.dumps(widget))[2] == Status.OK
    assert app.activate(1) in (Status.OK, Status.DEVICE_NOT_IN_NETWORK)
    return app, tokens


def graph(app, body):
    """(status, None) or (None, [dashId, [[(value, ts)...] per stream]])."""
    command, _, payload = app.request(Command.GET_ENHANCED_GRAPH_DATA, body)
    if command == Command.RESPONSE:
        return payload, None
    raw = zlib.decompress(payload)
    dash_id, at, streams = struct.unpack_from(">i", raw)[0], 4, []
    while at < len(raw):
        count = struct.unpack_from(">i", raw, at)[0]
        at += 4
        streams.append([struct.unpack_from(">dq", raw, at + 16 * i) for i in range(count)])
        at += 16 * count
    return None, [dash_id, streams]


def wait_for_graph(app, body, predicate):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        status, data = graph(app, body)
        if data is not None and predicate(data):
            return data
        time.sleep(0.05)
    raise AssertionError(f"graph {body!r} never matched; last {status} {data}")


def test_device_values_reach_live_minute_hour_and_day(stepped):
    app, (token,) = open_project(stepped, [chart(7, (0, 5, "AVG"))])
    device = Device(stepped.host, stepped.hw_port, token)
    try:
        for value in ("10", "20", "abc", "30"):
            device.write(5, value)
        live = wait_for_graph(app, "1\x007\x00LIVE", lambda d: len(d[1][0]) == 3)
        assert live[0] == 1 and [v for v, _ in live[1][0]] == [10.0, 20.0, 30.0]
        minute = (START * 1000) // MIN_MS * MIN_MS
        assert all(minute <= ts < minute + MIN_MS for _, ts in live[1][0])
        assert graph(app, "1\x007\x00ONE_HOUR") == (Status.NO_DATA, None)   # the minute is still open

        stepped.jump(61)
        data = wait_for_graph(app, "1\x007\x00ONE_HOUR", lambda d: d[1][0])
        assert data[1] == [[(20.0, minute)]]
        path = stepped.data_dir / "data" / "hist@example.com" / "history_1-0_v5_minute.bin"
        assert path.read_bytes() == struct.pack(">dq", 20.0, minute)

        device.write(5, "40")
        stepped.wait_recorded(1)
        stepped.jump(3600)                        # the hour and the next minute close
        app.close()                               # an hour without a ping: the server closed it
        app = login(stepped)
        hour = minute // HOUR_MS * HOUR_MS
        data = wait_for_graph(app, "1\x007\x00N_DAY", lambda d: d[1][0])
        assert data[1] == [[(25.0, hour)]]        # (10 + 20 + 30 + 40) / 4
        data = wait_for_graph(app, "1\x007\x00ONE_HOUR", lambda d: len(d[1][0]) == 2)
        assert [v for v, _ in data[1][0]] == [20.0, 40.0]
        assert graph(app, "1\x007\x00ONE_HOUR\x001")[0] == Status.NO_DATA    # page 1 is past the data
    finally:
        device.close()
        app.close()


def test_tag_streams_merge_with_their_function_and_empty_streams_stay_empty(stepped):
    tag = {"id": 100_000, "name": "both", "deviceIds": [0, 1]}
    app, tokens = open_project(stepped, [], devices=2)
    assert app.request(Command.CREATE_TAG, "1\0" + json.dumps(tag))[0] == Command.CREATE_TAG
    widget = chart(8, (100_000, 1, "MAX"), (0, 2, "AVG"), (5, 1, "AVG"))
    assert app.request(Command.CREATE_WIDGET, "1\0" + json.dumps(widget))[2] == Status.OK
    devices = [Device(stepped.host, stepped.hw_port, t) for t in tokens]
    try:
        devices[0].write(1, "3")
        devices[1].write(1, "8")
        stepped.wait_recorded(2)
        stepped.jump(61)
        minute = (START * 1000) // MIN_MS * MIN_MS
        data = wait_for_graph(app, "1\x008\x00ONE_HOUR", lambda d: d[1][0])
        assert data[1] == [[(8.0, minute)], [], []]
        data = wait_for_graph(app, "1-1\x008\x00ONE_HOUR", lambda d: d[1][0])   # target override
        assert data[1] == [[(8.0, minute)], [], [(8.0, minute)]]
    finally:
        for device in devices:
            device.close()
        app.close()


def test_a_java_history_file_loads_unchanged_and_keeps_growing(stepped):
    app, (token,) = open_project(stepped, [chart(7, (0, 5, "AVG"))])
    folder = stepped.data_dir / "data" / "hist@example.com"
    folder.mkdir(parents=True, exist_ok=True)
    hour = (START * 1000) // HOUR_MS * HOUR_MS
    java = [(1.5, hour - 3 * HOUR_MS), (2.25, hour - 2 * HOUR_MS), (-7.0, hour - HOUR_MS)]
    (folder / "history_1-0_v5_hourly.bin").write_bytes(b"".join(struct.pack(">dq", *r) for r in java))
    data = wait_for_graph(app, "1\x007\x00N_DAY", lambda d: d[1][0])
    assert data[1] == [java]
    device = Device(stepped.host, stepped.hw_port, token)
    try:
        device.write(5, "4")
        stepped.wait_recorded(1)
        stepped.jump(3600)
        app.close()
        app = login(stepped)
        data = wait_for_graph(app, "1\x007\x00N_DAY", lambda d: len(d[1][0]) == 4)
        assert data[1] == [java + [(4.0, hour)]]
        assert (folder / "history_1-0_v5_hourly.bin").stat().st_size == 4 * 16
    finally:
        device.close()
        app.close()


@pytest.mark.parametrize("body, status", [
    ("1\x007", Status.ILLEGAL_COMMAND),                # too few fields
    ("9\x007\x00ONE_HOUR", Status.ILLEGAL_COMMAND),    # unknown dashboard
    ("1\x0099\x00ONE_HOUR", Status.ILLEGAL_COMMAND),   # not a Superchart
    ("1\x00x\x00ONE_HOUR", Status.ILLEGAL_COMMAND),    # widget id not a number
    ("1\x007\x00ONE_HOUR", Status.NO_DATA),            # nothing recorded yet
    ("1\x007\x00ONE_HOUR\x00-1", Status.ILLEGAL_COMMAND),  # a negative page
])
def test_bad_graph_requests_get_upstream_statuses(stepped, body, status):
    app, _ = open_project(stepped, [chart(7, (0, 5, "AVG"))])
    try:
        assert graph(app, body) == (status, None)
        app.send(Command.GET_ENHANCED_GRAPH_DATA, "1\x007\x00NO_SUCH_PERIOD")   # no reply at all
        assert app.request(Command.PING)[2] == Status.OK
        assert not [m for m in app.inbox if m[0] in (Command.RESPONSE, Command.GET_ENHANCED_GRAPH_DATA)]
    finally:
        app.close()


@contextlib.contextmanager
def two_streams_a_day_later(stepped):
    """V5 and V6 of device 0, each in its own chart, written once; a day later (minute, hour and day
    closed) yields (app, history folder) with a fresh app login, and closes both at the end."""
    app, (token,) = open_project(stepped, [chart(7, (0, 5, "AVG")), chart(9, (0, 6, "AVG"))])
    device = Device(stepped.host, stepped.hw_port, token)
    try:
        device.write(5, "1")
        device.write(6, "2")
        stepped.wait_recorded(2)
        stepped.jump(24 * 3600)
        app.close()
        app = login(stepped)
        yield app, stepped.data_dir / "data" / "hist@example.com"
    finally:
        device.close()
        app.close()


def test_delete_graph_data_and_device_data_remove_the_files(stepped):
    with two_streams_a_day_later(stepped) as (app, folder):
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(f"history_1-0_v{p}_{g}.bin" for p in (5, 6) for g in ("minute", "hourly", "daily"))
        assert app.request(Command.DELETE_ENHANCED_GRAPH_DATA, "1\x007")[2] == Status.OK
        assert sorted(p.name for p in folder.iterdir()) == [n for n in names if "_v6_" in n]
        assert app.request(Command.DELETE_DEVICE_DATA, "1-0\x00v6")[2] == Status.OK
        assert list(folder.iterdir()) == []
        assert app.request(Command.DELETE_DEVICE_DATA, "1")[2] == Status.ILLEGAL_COMMAND


def test_deleting_a_device_or_a_dashboard_deletes_its_history(stepped):
    app, tokens = open_project(stepped, [chart(7, (0, 5, "AVG")), chart(9, (1, 5, "AVG"))], devices=2)
    devices = [Device(stepped.host, stepped.hw_port, t) for t in tokens]
    folder = stepped.data_dir / "data" / "hist@example.com"
    try:
        for device in devices:
            device.write(5, "1")
        stepped.wait_recorded(2)
        stepped.jump(61)
        assert sorted(p.name for p in folder.iterdir()) == ["history_1-0_v5_minute.bin", "history_1-1_v5_minute.bin"]
        app.close()
        app = login(stepped)
        assert app.request(Command.DELETE_DEVICE, "1\x001")[2] == Status.OK
        stepped.settle()
        assert [p.name for p in folder.iterdir()] == ["history_1-0_v5_minute.bin"]
        assert app.request(Command.DELETE_DASH, "1")[2] == Status.OK
        stepped.settle()
        assert list(folder.iterdir()) == []
    finally:
        for device in devices:
            device.close()
        app.close()


def test_open_buckets_survive_a_restart(tmp_path):
    first = SteppedServer(tmp_path / "s", wall=START)
    try:
        app, (token,) = open_project(first, [chart(7, (0, 5, "AVG"))])
        device = Device(first.host, first.hw_port, token)
        device.write(5, "10")
        device.write(5, "30")
        first.wait_recorded(2)
        device.close()
        app.close()
    finally:
        first.stop()
    assert (tmp_path / "s" / "data" / "data" / "aggregates_temp.json").exists()
    second = SteppedServer(tmp_path / "s", wall=START + 30)      # the same minute, after a restart
    try:
        device = Device(second.host, second.hw_port, token)
        device.write(5, "50")
        second.wait_recorded(3)
        second.jump(61)
        device.close()
        app = login(second)
        minute = (START * 1000) // MIN_MS * MIN_MS
        assert wait_for_graph(app, "1\x007\x00ONE_HOUR", lambda d: d[1][0])[1] == [[(30.0, minute)]]
        app.close()
    finally:
        second.stop()


def test_app_and_http_writes_are_recorded_too(stepped):
    import urllib.request
    app, (token,) = open_project(stepped, [chart(7, (0, 5, "AVG"))])
    try:
        app.write(1, 0, "V5", "7")                              # from the app (no device online)
        with urllib.request.urlopen(f"http://{stepped.host}:{stepped.hw_port}/{token}/update/V5?value=9",
                                    timeout=10) as response:
            assert response.status == 200
        live = wait_for_graph(app, "1\x007\x00LIVE", lambda d: len(d[1][0]) == 2)
        assert [v for v, _ in live[1][0]] == [7.0, 9.0]
    finally:
        app.close()


def test_the_weekly_cleanup_drops_history_nobody_plots(stepped):
    with two_streams_a_day_later(stepped) as (app, folder):      # both streams idle
        assert app.request(Command.DELETE_WIDGET, "1\x009")[2] == Status.OK     # v6 is no longer plotted
        assert stepped.on_reactor(lambda: len(stepped.history.streams)) == 2
        stepped.on_reactor(stepped.history.clean_unused)
        stepped.settle()
        assert sorted(p.name for p in folder.iterdir()) == [f"history_1-0_v5_{g}.bin" for g in ("daily", "hourly", "minute")]
        assert stepped.on_reactor(lambda: [k[5] for k in stepped.history.streams]) == [5]
