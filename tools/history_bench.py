#!/usr/bin/env python3
"""tools/history_bench.py - the history figures of issue 10, used by `tools/benchmark.py --only history`
(and runnable alone: `python3 tools/history_bench.py [hot|memory|flush|query|postgres]`).

  hot       CPU per recorded write on the write path (model/watchers.py → history Stream), beside the
            same write to a pin nobody records, on a real Server object (no sockets)
  memory    RSS per active stream: 10,000 logged pins of real dashboards, each written once (subprocess)
  flush     the minute flush of 10,000 streams: reactor time in total and per slice (the longest stall
            forwarding could see), and the worker's time to append to the files (and, once, to create them)
  query     a Superchart query over the app protocol against a running server: N_THREE_MONTHS (90 daily
            points) and DAY (1,440 minute points), median and p99 of 50 requests
  postgres  raw rows/s into reporting_raw_data: blynklite's writer (storage/postgres.py, one transaction
            per 50k-row batch) beside a plain psycopg2 execute_values loop, on one throwaway cluster
Prints figures; asserts nothing.
"""
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

STREAMS = 10_000
DAY_MS = 86_400_000


TEMP_FOLDERS = []


def _temp(prefix):
    """A temp folder removed when this process exits (the flush figure writes 10,000 files)."""
    import atexit
    import shutil
    folder = tempfile.mkdtemp(prefix=prefix)
    if not TEMP_FOLDERS:
        atexit.register(lambda: [shutil.rmtree(f, ignore_errors=True) for f in TEMP_FOLDERS])
    TEMP_FOLDERS.append(folder)
    return folder


def _server(folder, **properties):
    """A real Server (reactor, hub, watchers, history) that does not listen."""
    from blynklite.config import ServerConfig
    from blynklite.server import Server
    config = ServerConfig({"data.folder": folder, **{k: str(v) for k, v in properties.items()}})
    server = Server(config, folder, None)
    from blynklite.history.recorder import History
    server.history = History(server)
    server.watchers.add_provider(server.history.pins_of)
    return server


def _user(server, dashes, per_dash, email="bench@example.com", live=True):
    """One account, `dashes` dashboards of `per_dash` devices, each with a Superchart logging V1 of
    every device (LIVE selected, as by default, unless `live` is False)."""
    from blynklite.model.user import User
    boards = []
    for d in range(dashes):
        streams = [{"targetId": i, "pin": {"pin": 1, "pinType": "VIRTUAL"}} for i in range(per_dash)]
        boards.append({"id": d, "isActive": True, "devices": [{"id": i, "token": f"t{d:05d}{i:026d}"}
                                                              for i in range(per_dash)],
                       "widgets": [{"type": "ENHANCED_GRAPH", "id": 7, "dataStreams": streams,
                                    **({} if live else {"selectedPeriods": ["ONE_HOUR", "N_DAY"]})}]})
    user = User.from_json({"email": email, "appName": "Blynk", "profile": {"dashBoards": boards}})
    server.hub.add_user(user)
    return user


def hot(n=200_000):
    """µs per write: recorded pin vs. a pin no watcher wants (the difference is recording's cost)."""
    from blynklite.model.watchers import DEVICE, index_key
    server = _server(_temp("hb-hot-"))
    user = _user(server, 1, 1)
    dash = user.profile.dashboards[0]
    watchers, timer = server.watchers, time.perf_counter
    logged, plain = index_key(0, 0, "VIRTUAL", 1), index_key(0, 0, "VIRTUAL", 2)
    watchers.written(user, dash, 0, "VIRTUAL", 1, logged, "1", DEVICE)
    best = {}
    for name, pin, key in (("recorded", 1, logged), ("not_recorded", 2, plain)):
        runs = []
        for _ in range(5):
            start = timer()
            for i in range(n):
                watchers.written(user, dash, 0, "VIRTUAL", pin, key, "21.5", DEVICE)
            runs.append((timer() - start) / n * 1e6)
        best[name] = min(runs)
    best["recording_cost_us"] = best["recorded"] - best["not_recorded"]
    return {k: round(v, 3) for k, v in best.items()}


def memory(streams=STREAMS):
    """RSS per active stream with the LIVE cache (charts showing LIVE, as by default) and without it
    (charts without LIVE), each in a fresh interpreter so that RSS is not blurred by earlier figures or
    by freed memory the allocator keeps."""
    figures = {}
    for live in ("live", "no_live", "no_live_traced"):
        out = subprocess.run([sys.executable, __file__, "_memory", str(streams), live], capture_output=True,
                             text=True, timeout=600)
        if out.returncode:
            raise RuntimeError(out.stderr)
        figures[live] = json.loads(out.stdout.strip().splitlines()[-1])
    return {"streams": figures["live"]["streams"], "bytes_per_stream": figures["live"]["bytes_per_stream"],
            "bytes_per_stream_without_live": figures["no_live"]["bytes_per_stream"],
            "allocated_bytes_per_stream_without_live": figures["no_live_traced"]["bytes_per_stream"]}


def _rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def _memory(streams, live):
    """What recording adds: RSS after every logged pin was written once (watcher index built, a stream
    per pin with its open minute, and the LIVE ring when `live`) minus RSS with the same dashboards
    loaded and nothing written yet. RSS can read low (the allocator reuses what loading the dashboards
    freed), so `no_live_traced` counts the bytes Python allocated instead (tracemalloc)."""
    import gc
    from blynklite.model.watchers import DEVICE, index_key
    server = _server(_temp("hb-mem-"))
    per_dash = 100
    user = _user(server, streams // per_dash, per_dash, live=live == "live")
    keys = [(dash, device, index_key(dash.id, device, "VIRTUAL", 1)) for dash in user.profile.dashboards
            for device in range(per_dash)]     # the hot path holds its keys already (session pin heads)
    gc.collect()
    traced = live.endswith("_traced")
    if traced:
        import tracemalloc
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0] / 1024
    else:
        before = _rss_kb()
    now = server.reactor.wall_ms
    for dash, device, key in keys:
        server.history.stamp = now
        server.watchers.written(user, dash, device, "VIRTUAL", 1, key, "21.5", DEVICE)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] / 1024 if traced else _rss_kb()
    count = len(server.history.streams)
    print(json.dumps({"streams": count, "rss_before_kb": before, "rss_after_kb": after,
                      "bytes_per_stream": round((after - before) * 1024 / count)}))


def flush(streams=STREAMS):
    """Reactor-side flush time (total and the longest slice) and the worker's append time."""
    from blynklite.history import recorder
    from blynklite.model.watchers import DEVICE, index_key
    folder = _temp("hb-flush-")
    server = _server(folder)
    per_dash = 100
    user = _user(server, streams // per_dash, per_dash)
    history = server.history
    now = server.reactor.wall_ms // 3_600_000 * 3_600_000 + 60_000     # only minutes close in the flush
    for dash in user.profile.dashboards:
        for device in range(per_dash):
            history.stamp = now + 1000
            server.watchers.written(user, dash, device, "VIRTUAL", 1, index_key(dash.id, device, "VIRTUAL", 1),
                                    "21.5", DEVICE)
    history.stamp = None
    slices, appended = [], {}
    original = history._flush_slice

    def timed(all_streams, start, at, batch, rows):
        begin = time.perf_counter()
        original(all_streams, start, at, batch, rows)
        slices.append((time.perf_counter() - begin) * 1000)
    history._flush_slice = timed
    history._write_waiting = lambda: appended.update(history._waiting)    # time the append separately
    server.reactor.wall_ms = now + 61_000
    begin = time.perf_counter()
    history.flush()
    while server.reactor._ready:                      # the slices the flush queued, as the reactor runs them
        callback, args = server.reactor._ready.popleft()
        callback(*args)
    total = (time.perf_counter() - begin) * 1000
    begin = time.perf_counter()
    failed = recorder._append_all(appended)
    create_ms = (time.perf_counter() - begin) * 1000       # the first flush creates the 10,000 files
    begin = time.perf_counter()
    failed.update(recorder._append_all(appended))
    append_ms = (time.perf_counter() - begin) * 1000       # every later flush appends to them
    files = sum(len(names) for _, _, names in os.walk(os.path.join(folder, "data")))
    return {"streams": len(history.streams), "reactor_total_ms": round(total, 1),
            "longest_slice_ms": round(max(slices), 2), "slices": len(slices),
            "worker_create_ms": round(create_ms, 1), "worker_append_ms": round(append_ms, 1),
            "files_written": files, "failed": len(failed)}


def query(app_port, hw_port, folder, email="query@example.com", password="query-pass", count=50):
    """GET_ENHANCED_GRAPH_DATA over TLS against a running server: 90 daily and 1,440 minute points."""
    from blynklite.client import AppClient
    from blynklite.codec.commands import Command
    widget = {"type": "ENHANCED_GRAPH", "id": 7, "x": 0, "y": 0, "width": 8, "height": 4,
              "dataStreams": [{"targetId": 0, "pin": {"pin": 1, "pinType": "VIRTUAL"}}]}
    with AppClient("127.0.0.1", app_port, timeout=10) as app:
        app.register(email, password)
        app.login(email, password)
        app.create_dash(1, "query")
        app.create_device(1, 0, "d0")
        app.request(Command.CREATE_WIDGET, "1\0" + json.dumps(widget))
        user_folder = os.path.join(folder, "data", email)
        os.makedirs(user_folder, exist_ok=True)
        now = int(time.time() * 1000)
        for granularity, period, points in (("daily", DAY_MS, 400), ("minute", 60_000, 14_400)):
            with open(os.path.join(user_folder, f"history_1-0_v1_{granularity}.bin"), "wb") as f:
                f.write(b"".join(struct.pack(">dq", i * 0.5, now - (points - i) * period) for i in range(points)))
        out = {}
        for period in ("N_THREE_MONTHS", "DAY"):
            times = []
            for _ in range(count):
                begin = time.perf_counter()
                command, _, body = app.request(Command.GET_ENHANCED_GRAPH_DATA, f"1\0{7}\0{period}")
                times.append((time.perf_counter() - begin) * 1000)
                assert command == Command.GET_ENHANCED_GRAPH_DATA, (command, body)
            times.sort()
            out[period] = {"median_ms": round(statistics.median(times), 2),
                           "p99_ms": round(times[int(len(times) * 0.99) - 1], 2), "reply_bytes": len(body)}
    return out


def postgres(rows=200_000, batch=50_000):
    """Raw rows/s: our writer's transaction per batch vs a plain execute_values loop, same cluster."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import psycopg2
    import psycopg2.extras
    from postgres_support import Cluster
    from blynklite.storage import postgres as pg
    cluster = Cluster().start()
    try:
        pg.create_schema(cluster.args(), out=lambda *_: None)

        import types
        from blynklite.config import ServerConfig
        # Database reads only `config` before a batch; the writer under test (_write) is the real one.
        stub = types.SimpleNamespace(config=ServerConfig({"enable.raw.db.data.store": "true"}))
        props = dict(pg.DEFAULTS, **{"reporting.jdbc.url": f"jdbc:postgresql://{cluster.host}:{cluster.port}/blynk_reporting",
                                     "jdbc.url": f"jdbc:postgresql://{cluster.host}:{cluster.port}/blynk"})
        database = pg.Database(stub, props)
        start_ms = 1_700_000_000_000
        data = [("bench@example.com", 1, i % 100, "VIRTUAL", 1, start_ms + i, "21.5" if i % 10 else "on")
                for i in range(rows)]
        begin = time.perf_counter()
        for at in range(0, rows, batch):
            database._write(data[at:at + batch], [], [], False, start_ms)
        ours = rows / (time.perf_counter() - begin)
        database.reporting.drop()
        conn = psycopg2.connect(**cluster.args("blynk_reporting"))
        plain_rows = [("plain@example.com", 1, i % 100, 1, "v", pg.utc(start_ms + i), None, 21.5)
                      for i in range(rows)]
        begin = time.perf_counter()
        for at in range(0, rows, batch):
            with conn, conn.cursor() as cursor:
                psycopg2.extras.execute_values(
                    cursor, "INSERT INTO reporting_raw_data (email, project_id, device_id, pin, pinType, ts, "
                            "stringValue, doubleValue) VALUES %s", plain_rows[at:at + batch], page_size=5000)
        plain = rows / (time.perf_counter() - begin)
        conn.close()
        count = cluster.query("SELECT count(*) FROM reporting_raw_data")[0][0]
        return {"rows": rows, "batch": batch, "blynklite_rows_per_s": round(ours),
                "plain_execute_values_rows_per_s": round(plain), "rows_in_table": count}
    finally:
        cluster.stop()


def prechart(app_port, email="bench@example.com", password="benchpass", dash=100, devices=100):
    """Before bench.py provisions (it reuses what exists): dashboard `dash` with devices 0..devices-1 and a
    Superchart logging V1 of each, so every forwarded `vw 1 <ts>` is also recorded."""
    from blynklite.client import AppClient
    from blynklite.codec.commands import Command
    widget = {"type": "ENHANCED_GRAPH", "id": 7, "x": 0, "y": 0, "width": 8, "height": 4,
              "dataStreams": [{"targetId": i, "pin": {"pin": 1, "pinType": "VIRTUAL"}} for i in range(devices)]}
    with AppClient("127.0.0.1", app_port, timeout=30) as app:
        app.register(email, password)
        app.login(email, password)
        app.create_dash(dash, f"bench{dash}")
        for i in range(devices):
            app.create_device(dash, i, f"d{i}")
        status = app.request(Command.CREATE_WIDGET, f"{dash}\0" + json.dumps(widget))[2]
        assert status == 200, f"CREATE_WIDGET: {status}"


def table_rows(h, baseline):
    """Rows for tools/benchmark.py's table: (figure, blynklite, Java, baseline)."""
    rows = []
    off, on = h.get("recording_off") or {}, h.get("recording_on") or {}
    for shape, label in (("batch", "10 senders batching"), ("single", "100 senders, one message per write")):
        cells = []
        for rate in RATES:
            a, b = off.get(f"{shape}/{rate}", {}), on.get(f"{shape}/{rate}", {})
            x, y = a.get("server_cpu_us_per_msg"), b.get("server_cpu_us_per_msg")
            cells.append("-" if x is None or y is None else f"{x:.1f} → {y:.1f} ({(y - x) / x * 100:+.0f} %)")
        base = " / ".join("-" if not (baseline or {}).get(f"{shape}/{r}") else
                          f"{baseline[f'{shape}/{r}']['server_cpu_us_per_msg']:.1f}" for r in RATES)
        rows.append((f"forward CPU/msg recording off → on at {' / '.join(f'{r // 1000}k' for r in RATES)} msg/s, "
                     f"{label}", " / ".join(cells) + " µs", "-", base + " µs"))
    hot, mem, fl, q, pg = (h.get(k) or {} for k in ("hot", "memory", "flush", "query", "postgres"))
    if hot:
        rows.append(("recording cost per write on the write path (watcher → Stream)",
                     f"{hot['recording_cost_us']:.2f} µs", "-", "-"))
    if mem:
        rows.append((f"RSS per active stream ({mem['streams']:,} pins written once): with the LIVE ring / "
                     "aggregation only (charts without LIVE)",
                     f"{mem['bytes_per_stream']} / {mem['bytes_per_stream_without_live']} B", "-", "-"))
    if fl:
        rows.append((f"minute flush of {fl['streams']:,} streams: reactor total, longest slice; worker appends "
                     "(first flush creating the files)", f"{fl['reactor_total_ms']} ms, {fl['longest_slice_ms']} ms; "
                     f"{fl['worker_append_ms']} ms ({fl['worker_create_ms']} ms)", "-", "-"))
    if q:
        rows.append(("chart query N_THREE_MONTHS (90 daily) / DAY (1,440 minute points), median / p99",
                     f"{q['N_THREE_MONTHS']['median_ms']} / {q['N_THREE_MONTHS']['p99_ms']} ms, "
                     f"{q['DAY']['median_ms']} / {q['DAY']['p99_ms']} ms", "-", "-"))
    if pg:
        rows.append(("PostgreSQL raw inserts: blynklite writer / plain execute_values, rows/s",
                     f"{pg['blynklite_rows_per_s']:,} / {pg['plain_execute_values_rows_per_s']:,}", "-", "-"))
    return rows


RATES = (5000, 20000)   # forwarding points of the history phase (50k adds little and doubles the time)


def main(argv):
    if argv and argv[0] == "_memory":
        _memory(int(argv[1]), argv[2])
        return
    for name in argv or ("hot", "memory", "flush", "postgres"):
        print(name, json.dumps(globals()[name]()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
