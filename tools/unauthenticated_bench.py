"""What 1,000 connections that never log in cost the server, each doing its worst.

Used by tools/benchmark.py (phase `unauthenticated`); it prints figures and never asserts. Each kind of
peer holds the most it may make the server buffer before login and then waits:
  hw-frame   plain port, a hardware login frame announcing the largest pre-login body, one byte short
  http-head  plain port, an HTTP head one line short of its end, as long as the head limit allows
  http-body  plain port, a body without credentials, one byte short of the unauthenticated limit
  ws-frame   plain port, a websocket upgrade, then a pre-login message one byte short of its limit
  tls-app    TLS port, after the handshake an app login frame one byte short of the pre-login limit
  tls-head   TLS port, after the handshake a long HTTP head without its end
Figures: RSS idle (after one TLS client, so the certificate is loaded), RSS with all of them held,
how many the server still had open after the login deadline, and RSS after that. Only 127.0.0.1.
"""
import os
import resource
import socket
import ssl
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from blynklite.codec.frames import APP_HEADER, PRE_LOGIN_MAX_BODY  # noqa: E402
from blynklite.sessions.http import MAX_HEADER_BYTES, UNAUTHENTICATED_BODY_BYTES  # noqa: E402
from blynklite.net.connection import LOGIN_TIMEOUT  # noqa: E402

HOST = "127.0.0.1"
PER_KIND = 1000 // 6 + 1
HEAD_LINE = b"X-Filler: " + b"f" * 100 + b"\r\n"


def _plain(port):
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.setblocking(True)
    return sock


def _tls(port, context):
    return context.wrap_socket(socket.create_connection((HOST, port), timeout=10))


def _long_head(path):
    head = b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n"
    while len(head) + len(HEAD_LINE) < MAX_HEADER_BYTES - 200:
        head += HEAD_LINE
    return head


def _ws_upgrade(sock):
    sock.sendall(b"GET /websockets HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    sock.recv(4096)
    size = PRE_LOGIN_MAX_BODY + 5
    header = bytes([0x82, 0x80 | 126]) + size.to_bytes(2, "big") + b"\x01\x02\x03\x04"
    sock.sendall(header + b"\x00" * (size - 1))


KINDS = {
    "hw-frame": lambda s: s.sendall(bytes.fromhex("1d 0001") + PRE_LOGIN_MAX_BODY.to_bytes(2, "big")
                                    + b"t" * (PRE_LOGIN_MAX_BODY - 1)),
    "http-head": lambda s: s.sendall(_long_head(b"/x")),
    "http-body": lambda s: s.sendall(b"PUT /unknown-token-aaaaaaaaaaaaaaaaaaaa/update/V1 HTTP/1.1\r\n"
                                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                                     % UNAUTHENTICATED_BODY_BYTES + b"x" * (UNAUTHENTICATED_BODY_BYTES - 1)),
    "ws-frame": _ws_upgrade,
    "tls-app": lambda s: s.sendall(bytes([2]) + b"\x00\x01" + PRE_LOGIN_MAX_BODY.to_bytes(4, "big")
                                   + b"e" * (PRE_LOGIN_MAX_BODY - 1)),
    "tls-head": lambda s: s.sendall(_long_head(b"/y")),
}
assert APP_HEADER.size == 7


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def _still_open(sock):
    sock.setblocking(False)
    try:
        data = sock.recv(1)
        return data != b""
    except (BlockingIOError, ssl.SSLWantReadError):
        return True
    except OSError:
        return False


def run(srv):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    _tls(srv.app, context).close()     # the certificate is loaded by the first TLS client
    time.sleep(1)
    idle = _rss_kb(srv.proc.pid)
    held, started = [], time.monotonic()
    for kind, attack in KINDS.items():
        for _ in range(PER_KIND):
            sock = _tls(srv.app, context) if kind.startswith("tls") else _plain(srv.hw)
            attack(sock)
            held.append(sock)
    time.sleep(2)
    loaded = _rss_kb(srv.proc.pid)
    time.sleep(max(0.0, LOGIN_TIMEOUT + 3 - (time.monotonic() - started)))
    still_open = sum(1 for sock in held if _still_open(sock))
    for sock in held:
        sock.close()
    time.sleep(1)
    result = {"connections": len(held), "rss_idle_kb": idle, "rss_with_connections_kb": loaded,
              "kb_per_connection": round((loaded - idle) / len(held), 2),
              "open_after_deadline": still_open, "rss_after_kb": _rss_kb(srv.proc.pid)}
    print(f"  {result}", flush=True)
    return result


def table_rows(result):
    mb = lambda kb: f"{kb / 1024:.1f}"   # noqa: E731
    return [(f"RSS with {result['connections']} unauthenticated connections doing their worst "
             f"(idle / held; kB each; open after the {LOGIN_TIMEOUT:g} s deadline)",
             f"{mb(result['rss_idle_kb'])} / {mb(result['rss_with_connections_kb'])} MB; "
             f"{result['kb_per_connection']} kB; {result['open_after_deadline']} open", "-", "-")]
