#!/usr/bin/env python3
"""tools/benchmark.py - blynklite's performance figures, measured with the team's load generator.

    python3 tools/benchmark.py [--quick] [--only startup,idle,forward,baseline] [--json-out FILE]

Drives /work/shared/bench/bench.py (override with BLYNK_BENCH_DIR; see its README for what each figure
means) against blynklite started as a subprocess on free 127.0.0.1 ports, one fresh server and work
folder per phase:
  startup   time until both ports accept, idle RSS   (bench.py startup -- <server command>)
  idle      RSS with 1,000 and 5,000 logged-in idle devices, kB per device   (bench.py idle)
  forward   hardware -> app (TLS) forwarding at 5k/20k/50k msg/s: 10 senders batching, and 100
            senders with one message per write()   (bench.py forward)
  baseline  the same forward points against baseline_forwarder.py (plain app, synthetic tokens): the floor
  http      GET /{token}/update/V1 at 2k req/s over keep-alive: CPU per request, latency   (bench.py http)
  tls       RSS of an idle server, then after one TLS handshake on the app port (own client)
  websocket RSS with 1,000 idle devices logged in over ws:// /websockets, kB per device   (own loader)
  notify    1,000 devices at 5k msg/s, p99 latency without and then with 100 mails queued to an SMTP
            server that takes 1 s per mail (aiosmtpd, in this process)
  history   forwarding at 5k/20k msg/s with recording off, then on (a Superchart logs V1 of every sender),
            and tools/history_bench.py's figures: recording cost per write, RSS per stream, the minute
            flush of 10,000 streams, chart queries, PostgreSQL rows/s (run with `baseline` for the floor)
  unauthenticated  RSS with 1,000 connections that never log in, each holding the most it may make the
            server buffer, and how many are still open after the login deadline (tools/unauthenticated_bench.py)
  automation  forwarding CPU per message, three servers measured in turn: today's without the write path's
            watcher check (a patched copy), today's with no automation, today's with one Eventor rule and
            one WebHook on other pins; the watcher lookup per write; idle CPU with a dashboard of 200
            Timers (tools/automation_bench.py; run with `baseline` for the floor)
It prints figures, never asserts. At the end: a Markdown table (blynklite, the Java 0.41.17 reference
from the bench README, the baseline) to paste into README, the command line, and any problems seen
(server died, loss, closed senders, WARNING/ERROR lines in logs/blynk.log). Only 127.0.0.1 is used.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.environ.get("BLYNK_BENCH_DIR", "/work/shared/bench")
BENCH = os.path.join(BENCH_DIR, "bench.py")
BASELINE = os.path.join(BENCH_DIR, "baseline_forwarder.py")
HOST = "127.0.0.1"
RATES = (5000, 20000, 50000)
SHAPES = {"batch": ["--senders", "10"], "single": ["--senders", "100", "--per-write", "1"]}
IDLE_CONNS = (1000, 5000)
# Java 0.41.17 on this kind of machine, copied from the bench README (medians of 5 x 10 s, 0% loss), in the
# shape of the measured results so the table code treats it alike
JAVA = {"startup": "1.33 s", "rss_idle": "164 MB", "rss_conns": "245 / 273 MB", "kb_conn": "-",
        "http": "26.5 µs, p50/p99 - / 0.29 ms"}
HTTP_RATE = 2000
WS_DEVICES = 1000
for _r, _cpu1, _cpu100, _p50, _p99 in ((5000, 11.4, 12.4, 80, 300), (20000, 6.6, 7.7, 160, 460),
                                       (50000, 4.6, 6.5, 280, 1080)):
    JAVA[f"batch/{_r}"] = {"server_cpu_us_per_msg": _cpu1, "lat_p50_us": _p50, "lat_p99_us": _p99,
                           "loss_pct": 0}
    JAVA[f"single/{_r}"] = {"server_cpu_us_per_msg": _cpu100, "loss_pct": 0}
PROPERTIES = """\
http.port={hw}
https.port={app}
hardware.ssl.port=0
hardware.mqtt.port=0
listen.address=127.0.0.1
server.host=127.0.0.1
data.folder={dir}/data
logs.folder={dir}/logs
user.devices.limit=6000
user.message.quota.limit=100000000
hard.socket.idle.timeout=0
registration.limit.per.ip.hourly=0
profile.save.worker.period=60000
log.level=info
admin.pass=x
"""
LOG_PROBLEM = re.compile(r" (WARNING|WARN|ERROR|CRITICAL) |Traceback")
# No certificate is configured, and the work folder is a temp folder: both warnings are expected here.
LOG_EXPECTED = re.compile(r"TLS: using the self-signed certificate|the data folder .* is in /tmp")


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_open(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class Server:
    """A server subprocess in its own folder; blynklite (with a server.properties) or the baseline."""

    def __init__(self, work, name, baseline=False):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.name, self.baseline = name, baseline
        self.hw, self.app = free_ports(2)
        if baseline:
            self.cmd = [sys.executable, BASELINE, "--port", str(self.hw), "--max-seconds", "7200"]
        else:
            cfg = os.path.join(self.dir, "server.properties")
            with open(cfg, "w") as f:
                f.write(PROPERTIES.format(hw=self.hw, app=self.app, dir=self.dir))
            self.cmd = [sys.executable, "-m", "blynklite", "-serverConfig", cfg]
        self.proc = None
        self.env = ENV      # another blynklite tree: a copy with PYTHONPATH changed

    def ports_args(self):
        if self.baseline:
            return ["--hw-port", str(self.hw), "--app-plain", "--tokens", "synthetic"]
        return ["--hw-port", str(self.hw), "--app-port", str(self.app)]

    def start(self, wait=30):
        self.out = open(os.path.join(self.dir, "server.out"), "w")
        self.proc = subprocess.Popen(self.cmd, cwd=self.dir, env=self.env, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        ports = [self.hw] if self.baseline else [self.hw, self.app]
        deadline = time.monotonic() + wait
        while not all(port_open(p) for p in ports):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: server did not open its ports; see {self.out.name}")
            time.sleep(0.05)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.out.close()
        return self.proc.returncode


def bench(args, timeout):
    """Run bench.py, echo its output, return the parsed `RESULT {json}` (None if there was none)."""
    cmd = [sys.executable, BENCH] + [str(a) for a in args]
    print("  $ " + shlex.join(cmd), flush=True)
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    result = None
    try:
        for line in p.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
            else:
                print("    " + line.rstrip(), flush=True)
        p.wait()
    finally:
        timer.cancel()
    if result is None:
        PROBLEMS.append(f"bench.py {args[0]} gave no RESULT (exit {p.returncode}): {shlex.join(cmd)}")
    return result


def load_args(o):
    return ["--seconds", o.seconds, "--runs", o.runs, "--warmup", o.warmup]


def load_timeout(o):
    return 180 + o.warmup + o.runs * (o.seconds + 20)


def phase_startup(o, work):
    srv = Server(work, "startup")
    # one extra start: the first one also writes the self-signed certificate and the admin profile
    r = bench(["startup", *srv.ports_args(), "--runs", o.runs + 1, "--settle", 2 if o.quick else 5,
               "--", *srv.cmd], timeout=120 * (o.runs + 1))
    check_log(srv)
    if not r:
        return {}
    runs = r["runs"]
    if any(x.get("ports_open_s") is None for x in runs):
        PROBLEMS.append(f"startup: ports did not open in some run: {runs}")

    def med(k):
        vals = [x[k] for x in runs[1:] if x.get(k) is not None]
        return statistics.median(vals) if vals else None
    return {"first_start_s": runs[0].get("ports_open_s"), "ports_open_s": med("ports_open_s"),
            "rss_idle_kb": med("rss_idle_kb"), "runs": runs}


def check_log(srv):
    """Record the WARNING/ERROR lines (and tracebacks) of the server's logs/blynk.log as a problem."""
    path = os.path.join(srv.dir, "logs", "blynk.log")
    if not os.path.exists(path):
        return
    with open(path, errors="replace") as f:
        lines = [x.rstrip() for x in f if LOG_PROBLEM.search(x) and not LOG_EXPECTED.search(x)]
    if lines:
        PROBLEMS.append(f"{srv.name}: {len(lines)} WARNING/ERROR lines in logs/blynk.log, first ones:\n"
                        + "\n".join("      " + x for x in lines[:15]))


def with_server(srv, fn):
    """Start srv, run fn(srv), stop srv (always); record a crash and log problems."""
    try:
        srv.start()
        return fn(srv)
    finally:
        died = srv.proc is not None and srv.proc.poll() is not None
        code = srv.stop()
        if died:
            PROBLEMS.append(f"{srv.name}: server exited during the phase (code {code}); see {srv.out.name}")
        check_log(srv)


def phase_idle(o, work):
    out = {}
    for n in IDLE_CONNS:
        def run(srv):
            return bench(["idle", *srv.ports_args(), "--pid", srv.proc.pid, "--conns", n,
                          "--hold", 8 if o.quick else 20], timeout=600)
        r = with_server(Server(work, f"idle{n}"), run)
        if r:
            m = r["median"]
            out[str(n)] = {k: m.get(k) for k in ("rss_before_kb", "rss_with_conns_kb", "kb_per_conn",
                                            "logged_in", "failed", "alive_at_end")}
            if m.get("failed") or m.get("alive_at_end") != m.get("logged_in"):
                PROBLEMS.append(f"idle {n}: {m.get('failed')} logins failed, "
                                f"{m.get('alive_at_end')} of {m.get('logged_in')} alive at the end")
    return out


def phase_forward(o, work, baseline=False):
    def run(srv):
        res = {}
        for shape, extra in SHAPES.items():
            for rate in RATES:
                if not srv.alive():
                    return res
                r = bench(["forward", *srv.ports_args(), "--pid", srv.proc.pid, "--rate", rate, *extra,
                           *load_args(o), "--max-lifetime", int(load_timeout(o))], timeout=load_timeout(o))
                if not r:
                    continue
                m = r["median"]
                res[f"{shape}/{rate}"] = m
                if r.get("receiver") != "c":
                    PROBLEMS.append("forward: the C receiver did not build; the Python one may cap the rate")
                bad = [x for x in r["runs"] if x.get("loss_pct") or x.get("hw_closed")]
                if bad:
                    PROBLEMS.append(f"{srv.name} {shape} {rate}/s: loss/closed senders in "
                                    f"{len(bad)} of {len(r['runs'])} runs: " + "; ".join(
                                        f"loss {x.get('loss_pct'):.3f}% closed {x.get('hw_closed')}"
                                        for x in bad))
        return res
    return with_server(Server(work, "baseline" if baseline else "forward", baseline), run)


def phase_http(o, work):
    def run(srv):
        return bench(["http", *srv.ports_args(), "--pid", srv.proc.pid, "--rate", HTTP_RATE, *load_args(o),
                      "--max-lifetime", int(load_timeout(o))], timeout=load_timeout(o))
    r = with_server(Server(work, "http"), run)
    return r["median"] if r else {}


def phase_tls(o, work):
    """RSS of an idle server, then after its first TLS client: the self-signed context loads then."""
    def run(srv):
        time.sleep(2 if o.quick else 5)
        idle = rss_kb(srv.proc.pid)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(socket.create_connection((HOST, srv.app), timeout=10)) as sock:
            version = sock.version()
        time.sleep(1)
        return {"rss_idle_kb": idle, "rss_after_first_tls_kb": rss_kb(srv.proc.pid), "tls_version": version}
    return with_server(Server(work, "tls"), run)


def phase_websocket(o, work):
    """RSS before and after WS_DEVICES devices log in over ws://…/websockets and stay idle."""
    def run(srv):
        sys.path.insert(0, ROOT)
        from blynklite.client import AppClient
        tokens = provision(AppClient, srv, WS_DEVICES)
        before = rss_kb(srv.proc.pid)
        sockets = [ws_device(srv.hw, token) for token in tokens]
        time.sleep(2 if o.quick else 5)
        after = rss_kb(srv.proc.pid)
        alive = sum(1 for s in sockets if ws_alive(s))
        for s in sockets:
            s.close()
        if alive != len(tokens):
            PROBLEMS.append(f"websocket: {len(tokens) - alive} of {len(tokens)} devices were dropped")
        return {"devices": len(tokens), "rss_before_kb": before, "rss_with_ws_kb": after,
                "kb_per_ws_device": round((after - before) / len(tokens), 2)}
    return with_server(Server(work, "websocket"), run)


def provision(AppClient, srv, count, per_dash=100):
    email, password = "ws-bench@example.com", "bench-pass"
    with AppClient(HOST, srv.app, timeout=10) as app:
        app.register(email, password)
        app.login(email, password)
        tokens = []
        for dash_id in range(1, count // per_dash + 1):
            app.create_dash(dash_id, f"bench {dash_id}")
            for device_id in range(per_dash):
                tokens.append(app.create_device(dash_id, device_id, f"d{device_id}")["token"])
            app.activate(dash_id)
    return tokens


def ws_device(port, token):
    import base64
    sock = socket.create_connection((HOST, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /websockets HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    login = bytes([2, 0, 1, 0, len(token)]) + token.encode()
    sock.sendall(bytes([0x82, 0x80 | len(login)]) + b"\0\0\0\0" + login)   # zero mask: payload as is
    reply = sock.recv(64)
    if reply[2:] != b"\x00\x00\x01\x00\xc8":
        PROBLEMS.append(f"websocket: login answered {reply!r}")
    return sock


def ws_alive(sock):
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


MAIL_DEVICES, MAIL_RATE, MAILS, MAIL_DELAY = 1000, 5000, 100, 1.0


def phase_notify(o, work):
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        PROBLEMS.append("notify: aiosmtpd is not installed (pip install aiosmtpd)")
        return {}
    delivered = []

    class SlowMailbox:
        async def handle_DATA(self, server, session, envelope):
            import asyncio
            await asyncio.sleep(MAIL_DELAY)
            delivered.append(time.monotonic())
            return "250 OK"
    smtp_port = free_ports(1)[0]
    smtp = Controller(SlowMailbox(), hostname=HOST, port=smtp_port)
    smtp.start()
    srv = Server(work, "notify")
    with open(os.path.join(srv.dir, "mail.properties"), "w") as f:
        f.write(f"mail.smtp.host={HOST}\nmail.smtp.port={smtp_port}\nmail.smtp.auth=false\n"
                f"mail.smtp.starttls.enable=false\nmail.smtp.username=bench@example.com\n")

    def forward():
        return bench(["forward", *srv.ports_args(), "--pid", srv.proc.pid, "--rate", MAIL_RATE,
                      "--senders", MAIL_DEVICES, "--per-write", "1", *load_args(o),
                      "--max-lifetime", int(load_timeout(o))], timeout=load_timeout(o))

    def run(srv):
        token = mail_project(srv)
        quiet = forward()
        mailer = threading.Timer(o.warmup + 1, post_mails, (srv, token))
        mailer.start()
        busy = forward()
        mailer.join()
        return {"without_mail": quiet and quiet["median"], "with_mail": busy and busy["median"],
                "mails_delivered_during_run": len(delivered)}
    try:
        return with_server(srv, run)
    finally:
        smtp.stop()


def mail_project(srv):
    """An account with a Mail widget; its device token, for the HTTP /email endpoint."""
    sys.path.insert(0, ROOT)
    from blynklite.client import AppClient
    from blynklite.codec.commands import Command
    with AppClient(HOST, srv.app, timeout=10) as app:
        app.register("mail-bench@example.com", "bench-pass")
        app.login("mail-bench@example.com", "bench-pass")
        dash_id, _, token = app.new_device("mailer", dash_id=900)
        widget = json.dumps({"id": 1, "type": "EMAIL", "x": 0, "y": 0, "width": 1, "height": 1})
        app.request(Command.CREATE_WIDGET, f"{dash_id}\0{widget}")
    return token


def post_mails(srv, token):
    import http.client
    conn = http.client.HTTPConnection(HOST, srv.hw, timeout=10)
    body = json.dumps({"to": "someone@example.com", "subj": "bench", "title": "queued mail"})
    for _ in range(MAILS):
        conn.request("POST", f"/{token}/email", body, {"Content-Type": "application/json"})
        conn.getresponse().read()
    conn.close()


def side_by_side(o, servers, rates):
    """Forwarding CPU per message at every shape and rate, each point measured on every server in turn,
    run after run, so the load of a shared machine drifts alike for all: {name: {"shape/rate": figures}}."""
    out = {name: {} for name in servers}
    for shape, extra in SHAPES.items():
        for rate in rates:
            runs = {name: [] for name in servers}
            for _ in range(o.runs):
                for name, srv in servers.items():
                    if not srv.alive():
                        continue
                    r = bench(["forward", *srv.ports_args(), "--pid", srv.proc.pid, "--rate", rate, *extra,
                               "--seconds", o.seconds, "--runs", 1, "--warmup", o.warmup,
                               "--max-lifetime", int(load_timeout(o))], timeout=load_timeout(o))
                    if r:
                        runs[name].append(r["median"]["server_cpu_us_per_msg"])
            for name, values in runs.items():
                if values:
                    out[name][f"{shape}/{rate}"] = {"server_cpu_us_per_msg": statistics.median(values),
                                                    "runs": values}
    return out


def stop_all(servers):
    for srv in servers.values():
        died = srv.proc is not None and srv.proc.poll() is not None
        code = srv.stop()
        if died:
            PROBLEMS.append(f"{srv.name}: server exited during the phase (code {code})")
        check_log(srv)


def phase_history(o, work):
    """Recording off and on side by side: each point is measured on both servers in turn, run after
    run (as the automation phase), so a shared machine's load drifts alike for both; then
    tools/history_bench.py's figures."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import history_bench as hb
    out = {"recording_off": {}, "recording_on": {}}
    servers = {}
    try:
        for name in ("recording_off", "recording_on"):
            srv = servers[name] = Server(work, f"history-{name}")
            srv.start()
            if name == "recording_on":
                hb.prechart(srv.app)
        out.update(side_by_side(o, servers, hb.RATES))
    finally:
        stop_all(servers)
    out["query"] = with_server(Server(work, "history-query"),
                               lambda srv: hb.query(srv.app, srv.hw, os.path.join(srv.dir, "data")))
    for name in ("hot", "memory", "flush", "postgres"):
        try:
            out[name] = getattr(hb, name)()
        except Exception as e:   # e.g. no PostgreSQL binaries: the other figures still count
            PROBLEMS.append(f"history {name}: {type(e).__name__}: {e}")
        print(f"  {name}: {json.dumps(out.get(name))}", flush=True)
    return out


def phase_unauthenticated(o, work):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import unauthenticated_bench
    result = with_server(Server(work, "unauthenticated"), unauthenticated_bench.run)
    if result and result.get("open_after_deadline"):
        PROBLEMS.append(f"unauthenticated: {result['open_after_deadline']} connections open after the deadline")
    return result


def phase_automation(o, work):
    """The three servers run side by side; each point is measured on them in turn, run after run, so
    the load of a shared machine drifts alike for all three."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import automation_bench as ab
    out = {"forward": {}}
    without_index = ab.without_index_tree(work)
    variants = [("no_automation", None), ("eventor_and_webhook", ab.eventor_and_webhook())]
    if without_index:
        variants.insert(0, ("before", None))
    servers = {}
    try:
        for name, widgets in variants:
            srv = servers[name] = Server(work, f"automation-{name}")
            if name == "before":
                srv.env = dict(ENV, PYTHONPATH=without_index)
            srv.start()
            if widgets:
                ab.prepare(srv.app, widgets)
        out["forward"] = side_by_side(o, servers, RATES)
    finally:
        stop_all(servers)
    out["hot"] = ab.hot()
    print(f"  hot: {json.dumps(out['hot'])}", flush=True)
    idle = {}
    for label, widgets in (("without_timers", []), ("with_timers", ab.timers())):
        def run_idle(srv, widgets=widgets):
            ab.prepare(srv.app, widgets, devices=1)
            time.sleep(2)
            return ab.idle_cpu_pct(srv.proc.pid, 10 if o.quick else 30)
        idle[f"{label}_pct"] = with_server(Server(work, f"automation-idle-{label}"), run_idle)
    out["idle"] = idle
    print(f"  idle: {json.dumps(idle)}", flush=True)
    return out


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


# ---------------------------------------------------------------------------------------- report
def fmt(v, spec, unit=""):
    return "-" if v is None else format(v, spec) + unit


def has(res, shapes, key):
    return bool(res) and any(res.get(f"{s}/{r}", {}).get(key) is not None for s in shapes for r in RATES)


def fwd(res, shapes, key, spec, scale=1.0, unit=""):
    """One figure at 5k / 20k / 50k msg/s; shapes joined with ', ' (e.g. '0 / 0 / 0, 0 / 0 / 0 %')."""
    if not has(res, shapes, key):
        return "-"
    def one(m):
        v = m.get(key)
        return fmt(None if v is None else v * scale, spec)
    return ", ".join(" / ".join(one(res.get(f"{s}/{r}", {})) for r in RATES) for s in shapes) + unit


def lat(res, shape):
    if not has(res, [shape], "lat_p50_us"):
        return "-"
    ms = lambda m, k: fmt(m[k] / 1000 if m.get(k) is not None else None, ".2f")
    return ", ".join(ms(m, "lat_p50_us") + "/" + ms(m, "lat_p99_us")
                     for m in (res.get(f"{shape}/{r}", {}) for r in RATES)) + " ms"


def table(R):
    st, idle, fw, bl = R.get("startup") or {}, R.get("idle") or {}, R.get("forward"), R.get("baseline")
    mb = lambda kb: fmt(kb and kb / 1024, ".1f")
    both = ("batch", "single")
    rows = [
        ("start until ports accept", fmt(st.get("ports_open_s"), ".2f", " s"), JAVA["startup"], "-"),
        ("RSS idle", mb(st.get("rss_idle_kb")) + " MB", JAVA["rss_idle"], "-"),
        ("RSS with 1,000 / 5,000 idle devices",
         " / ".join(mb(idle.get(str(n), {}).get("rss_with_conns_kb")) for n in IDLE_CONNS) + " MB",
         JAVA["rss_conns"], "-"),
        ("kB per idle device (1,000 / 5,000)",
         " / ".join(fmt(idle.get(str(n), {}).get("kb_per_conn"), ".1f") for n in IDLE_CONNS), JAVA["kb_conn"], "-"),
        ("forward CPU/msg at 5k / 20k / 50k msg/s, 10 senders batching",
         *(fwd(x, ["batch"], "server_cpu_us_per_msg", ".1f", unit=" µs") for x in (fw, JAVA, bl))),
        ("same, 100 senders, one message per write (like devices)",
         *(fwd(x, ["single"], "server_cpu_us_per_msg", ".1f", unit=" µs") for x in (fw, JAVA, bl))),
        ("latency p50/p99 at 5k / 20k / 50k, 10 senders", *(lat(x, "batch") for x in (fw, JAVA, bl))),
        ("latency p50/p99 at 5k / 20k / 50k, 100 senders", *(lat(x, "single") for x in (fw, JAVA, bl))),
        ("delivered k msg/s at 5k / 20k / 50k, 10 / 100 senders",
         *(fwd(x, both, "delivered_per_s", ".1f", 1e-3) for x in (fw, JAVA, bl))),
        ("loss at 5k / 20k / 50k, 10 / 100 senders", *(fwd(x, both, "loss_pct", ".2g", unit=" %")
                                                      for x in (fw, JAVA, bl))),
    ]
    ht, ws = R.get("http") or {}, R.get("websocket") or {}
    if ht:
        rows.append((f"HTTP update at {HTTP_RATE // 1000}k req/s (keep-alive): CPU/request, p50/p99",
                     fmt(ht.get("server_cpu_us_per_msg"), ".1f", " µs") + ", " +
                     fmt(ht.get("lat_p50_us") and ht["lat_p50_us"] / 1000, ".2f") + " / " +
                     fmt(ht.get("lat_p99_us") and ht["lat_p99_us"] / 1000, ".2f", " ms"), JAVA["http"], "-"))
    nt = R.get("notify") or {}
    if nt.get("without_mail") and nt.get("with_mail"):
        p99 = lambda m: fmt(m.get("lat_p99_us") and m["lat_p99_us"] / 1000, ".2f")  # noqa: E731
        rows.append((f"p99 at {MAIL_RATE // 1000}k msg/s from {MAIL_DEVICES} devices: without / with "
                     f"{MAILS} mails queued to a {MAIL_DELAY:g} s/mail SMTP server",
                     f"{p99(nt['without_mail'])} / {p99(nt['with_mail'])} ms", "-", "-"))
    tl = R.get("tls") or {}
    if tl:
        rows.append(("RSS idle, then after the first TLS client (the self-signed context loads then)",
                     f"{mb(tl.get('rss_idle_kb'))} / {mb(tl.get('rss_after_first_tls_kb'))} MB", "-", "-"))
    if ws:
        rows.append((f"RSS with {ws.get('devices')} idle websocket devices, kB per device",
                     f"{mb(ws.get('rss_with_ws_kb'))} MB, {fmt(ws.get('kb_per_ws_device'), '.1f')} kB", "-", "-"))
    if R.get("unauthenticated"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import unauthenticated_bench
        rows += unauthenticated_bench.table_rows(R["unauthenticated"])
    if R.get("history"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import history_bench
        rows += history_bench.table_rows(R["history"], bl)
    if R.get("automation"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import automation_bench
        rows += automation_bench.table_rows(R["automation"], bl)
    lines = ["| figure | blynklite | Java 0.41.17 (bench README) | baseline_forwarder.py (this run) |",
             "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs (3 s, 1 run, 2 s warm-up)")
    ap.add_argument("--only", default="startup,idle,forward,baseline,http,tls,websocket,notify,history,"
                                      "unauthenticated,automation",
                    help="comma-separated phases")
    ap.add_argument("--json-out", help="write all figures as JSON to this file")
    ap.add_argument("--runs", type=int, help="measured runs per point (default 3, quick 1)")
    ap.add_argument("--seconds", type=float, help="seconds per run (default 10, quick 3)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per point (default 5, quick 2)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (kept anyway on problems)")
    o = ap.parse_args()
    o.runs = o.runs or (1 if o.quick else 3)
    o.seconds = o.seconds or (3 if o.quick else 10)
    o.warmup = o.warmup if o.warmup is not None else (2 if o.quick else 5)
    only = set(o.only.split(","))
    unknown = only - {"startup", "idle", "forward", "baseline", "http", "tls", "websocket", "notify", "history",
                      "unauthenticated", "automation"}
    if unknown:
        ap.error(f"unknown phases: {', '.join(sorted(unknown))}")
    command = shlex.join([sys.executable] + sys.argv)
    work = tempfile.mkdtemp(prefix="blynklite-bench-")
    # The server runs from compiled bytecode, as an installed or once-started copy does on a Pi:
    # compiling every module at each start costs time and, for the compiler's memory, about 1 MB of RSS.
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV["PYTHONPYCACHEPREFIX"] = os.path.join(work, "pycache")
    print(f"work folder {work}; load generator {BENCH}", flush=True)
    R = {"command": command, "options": vars(o), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    t0 = time.monotonic()
    try:
        for name, fn in (("startup", phase_startup), ("idle", phase_idle), ("forward", phase_forward),
                         ("baseline", lambda o, w: phase_forward(o, w, baseline=True)),
                         ("http", phase_http), ("tls", phase_tls), ("websocket", phase_websocket), ("notify", phase_notify),
                         ("history", phase_history), ("unauthenticated", phase_unauthenticated),
                         ("automation", phase_automation)):
            if name in only:
                print(f"\n== {name}", flush=True)
                try:
                    R[name] = fn(o, work)
                except Exception as e:   # report and go on with the next phase
                    PROBLEMS.append(f"{name}: {type(e).__name__}: {e}")
    finally:
        R["problems"] = PROBLEMS
        R["table"] = table(R)
        print(f"\n== results ({time.monotonic() - t0:.0f} s)\n{R['table']}\n\ncommand: {command}", flush=True)
        if R.get("startup", {}).get("first_start_s") is not None:
            print(f"first start (writes the certificate and the admin): {R['startup']['first_start_s']:.2f} s")
        print("problems: " + ("none" if not PROBLEMS else "\n  - " + "\n  - ".join(PROBLEMS)), flush=True)
        if o.json_out:
            with open(o.json_out, "w") as f:
                json.dump(R, f, indent=1, default=str)
        if PROBLEMS or o.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


PROBLEMS = []
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))

if __name__ == "__main__":
    main()
