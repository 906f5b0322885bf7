#!/usr/bin/env python3
"""tools/automation_bench.py - the automation figures of issue 9, used by `tools/benchmark.py --only
automation` (and runnable alone: `python3 tools/automation_bench.py [hot|idle]`).

  forward   (run by benchmark.py) hardware -> app forwarding CPU per message, in one run, the servers side
            by side and measured in turn: today's server with the device write path's watcher check cut out
            (a copy), today's on a project with no automation, today's with one Eventor rule and one WebHook
            on other pins of the senders' dashboard; and the bare baseline forwarder
  hot       the write path's watcher lookup on a real Server object (no sockets): a write to a pin nobody
            watches, on a dashboard without automation and on one with an Eventor rule and a WebHook
  idle      CPU of an idle server process holding a dashboard with 200 Timers (none due while measured),
            beside the same server without them, % of one core from /proc
Prints figures; asserts nothing.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# The first and last line of the watcher check in handlers/hardware.py `hardware_write`.
HOT_PATH_CHECK = ("    index = dash.watch_index", "server.watchers.written(")
TIMERS = 200
HOT_WRITES = 200_000
EMAIL, PASSWORD = "bench@example.com", "benchpass"   # bench.py's defaults: it reuses this account
BENCH_DASH, BENCH_DEVICES = 100, 100                 # bench.py's first dashboard (dash_base, per_dash)


def eventor_and_webhook():
    """One Eventor rule (V5 > 10 -> V7) and one WebHook (V6) on device 0: pins the senders never write."""
    rule = {"isActive": True, "triggerPin": {"pin": 5, "pinType": "VIRTUAL"},
            "condition": {"type": "GT", "value": 10},
            "actions": [{"type": "SETPIN", "pin": {"pin": 7, "pinType": "VIRTUAL"}, "value": "1"}]}
    return [{"type": "EVENTOR", "id": 9001, "x": 0, "y": 0, "width": 2, "height": 1, "deviceId": 0, "rules": [rule]},
            {"type": "WEBHOOK", "id": 9002, "x": 0, "y": 1, "width": 2, "height": 1, "deviceId": 0,
             "pinType": "VIRTUAL", "pin": 6, "url": "http://192.0.2.1/hook"}]


def timers(count=TIMERS, now=None):
    """`count` Timers on V1..V50 of device 0, start and stop spread over the day, none in the next hour."""
    now = time.time() if now is None else now
    first = (int(now) + 3600) % 86400
    step = (86400 - 7200) // (2 * count)
    out = []
    for i in range(count):
        start = (first + 2 * i * step) % 86400
        out.append({"type": "TIMER", "id": 8000 + i, "x": i % 8, "y": i // 8, "width": 1, "height": 1,
                    "deviceId": 0, "pinType": "VIRTUAL", "pin": 1 + i % 50, "startTime": start, "startValue": "1",
                    "stopTime": (start + step) % 86400, "stopValue": "0"})
    return out


def prepare(app_port, widgets, devices=BENCH_DEVICES):
    """Before bench.py provisions (it reuses what exists): dashboard BENCH_DASH, its devices, `widgets`."""
    from blynklite.client import AppClient
    from blynklite.codec.commands import Command
    with AppClient("127.0.0.1", app_port, timeout=30) as app:
        app.register(EMAIL, PASSWORD)
        app.login(EMAIL, PASSWORD)
        app.create_dash(BENCH_DASH, f"bench{BENCH_DASH}")
        for i in range(devices):
            app.create_device(BENCH_DASH, i, f"d{i}")
        for widget in widgets:
            status = app.request(Command.CREATE_WIDGET, f"{BENCH_DASH}\0" + json.dumps(widget))[2]
            assert status == 200, f"CREATE_WIDGET {widget['type']}: {status}"
            time.sleep(0.011)          # below the app connection's 100 messages/s
        app.activate(BENCH_DASH)


def without_index_tree(work):
    """Today's server with the device write path's watcher check taken out (a copy in `work`/before):
    the same code in all but the lines this issue added to the hot path. None when they are not found."""
    import shutil
    target = os.path.join(work, "before")
    shutil.copytree(os.path.join(ROOT, "blynklite"), os.path.join(target, "blynklite"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = os.path.join(target, "blynklite", "handlers", "hardware.py")
    with open(path) as f:
        text = f.read()
    start = text.find(HOT_PATH_CHECK[0])
    end = text.find(HOT_PATH_CHECK[1], start)
    if start < 0 or end < 0:
        print("  the watcher check was not found in handlers/hardware.py; no 'before' variant", flush=True)
        return None
    end = text.index("\n", end) + 1
    with open(path, "w") as f:
        f.write(text[:start] + text[end:])
    return target


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_pct(pid, seconds):
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return round(100 * (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start), 3)


# -- hot: the lookup on a real Server object ------------------------------------------------------------
def _server(folder):
    from blynklite.config import ServerConfig
    from blynklite.server import Server
    return Server(ServerConfig({"data.folder": folder}), folder, None)


def hot():
    """µs per write to V1 of device 0 (nobody watches it) for what the hardware write path adds: the
    inline index check (handlers/hardware.py), and the full `watchers.written` call other paths make;
    an empty loop's time is subtracted."""
    from blynklite.model.user import User
    from blynklite.model.watchers import DEVICE, index_key
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, widgets in (("no_automation", []), ("eventor_and_webhook", eventor_and_webhook())):
            server = _server(folder)
            user = User.from_json({"email": f"{label}@x.y", "profile": {"dashBoards": [
                {"id": 1, "isActive": True, "widgets": widgets, "devices": [{"id": 0}]}]}})
            server.hub.add_user(user)
            dash = user.profile.dashboards[0]
            key = index_key(1, 0, "VIRTUAL", 1)
            watchers = server.watchers
            watchers.written(user, dash, 0, "VIRTUAL", 1, key, "1", DEVICE)         # builds the index once

            def empty():
                for _ in range(HOT_WRITES):
                    pass

            def inline():
                for _ in range(HOT_WRITES):
                    index = dash.watch_index
                    if index is None or key in index or watchers.every:
                        watchers.written(user, dash, 0, "VIRTUAL", 1, key, "1", DEVICE)

            def call():
                for _ in range(HOT_WRITES):
                    watchers.written(user, dash, 0, "VIRTUAL", 1, key, "1", DEVICE)
            floor = _best(empty)
            out[label + "_inline_us"] = round(max(0.0, _best(inline) - floor), 3)
            out[label + "_call_us"] = round(max(0.0, _best(call) - floor), 3)
            server.reactor.close()
    return out


def _best(loop, repeats=5):
    best = None
    for _ in range(repeats):
        started = time.perf_counter()
        loop()
        elapsed = (time.perf_counter() - started) / HOT_WRITES * 1e6
        best = elapsed if best is None else min(best, elapsed)
    return best


def table_rows(a, baseline):
    """Rows for tools/benchmark.py's table: (figure, blynklite, Java, baseline)."""
    rows = []
    fw = a.get("forward") or {}
    for shape, label in (("batch", "10 senders batching"), ("single", "100 senders, one message per write")):
        points = sorted({k.split("/")[1] for v in fw.values() for k in (v or {}) if k.startswith(shape + "/")},
                        key=int)
        for rate in points:
            key = f"{shape}/{rate}"
            cpu = {name: (fw.get(name) or {}).get(key, {}).get("server_cpu_us_per_msg")
                   for name in ("before", "no_automation", "eventor_and_webhook")}
            if cpu["no_automation"] is None:
                continue

            def rel(x, ref=cpu["before"]):
                return "" if x is None or not ref else f" ({(x - ref) / ref * 100:+.1f} %)"
            cells = [f"{cpu['before']:.2f}" if cpu["before"] is not None else "-",
                     f"{cpu['no_automation']:.2f}{rel(cpu['no_automation'])}",
                     f"{cpu['eventor_and_webhook']:.2f}{rel(cpu['eventor_and_webhook'])}"
                     if cpu["eventor_and_webhook"] is not None else "-"]
            base = (baseline or {}).get(key, {}).get("server_cpu_us_per_msg")
            rows.append((f"forward CPU/msg at {int(rate) // 1000}k msg/s, {label}: without the watcher check / "
                         "no automation / one Eventor rule + one WebHook on other pins",
                         " / ".join(cells) + " µs", "-", "-" if base is None else f"{base:.2f} µs"))
    h = a.get("hot") or {}
    if h:
        rows.append(("watcher lookup per device write to an unwatched pin (inline check; full call from other "
                     "paths): no automation / Eventor + WebHook on other pins",
                     f"{h['no_automation_inline_us']:.3f} ({h['no_automation_call_us']:.3f}) / "
                     f"{h['eventor_and_webhook_inline_us']:.3f} ({h['eventor_and_webhook_call_us']:.3f}) µs", "-", "-"))
    idle = a.get("idle") or {}
    if idle:
        rows.append((f"idle server CPU without / with a dashboard of {TIMERS} Timers",
                     f"{idle.get('without_timers_pct')} / {idle.get('with_timers_pct')} % of a core", "-", "-"))
    return rows


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "hot"
    if what == "hot":
        print(json.dumps(hot()))
    else:
        sys.exit("usage: automation_bench.py hot   (the other figures come from tools/benchmark.py --only automation)")
