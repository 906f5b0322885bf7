#!/usr/bin/env python3
"""tools/fuzz.py - throw generated input at every codec in-process and at a running server on loopback.

    python3 tools/fuzz.py [--seed N] [--inputs N] [--seconds S] [--only codecs|live] [--connections N]
                          [--codecs "http,json text"] [--workdir DIR]

Two phases, one table at the end (a default run takes about 3 minutes on the 2-core machine):
  codecs  `--inputs` (default 3,000,000) generated inputs, shared out over the sans-IO code in
          blynklite/codec: hardware and app frames, app-websocket (/dashws) messages, text bodies (pin
          addresses, numbers, targets), the HTTP request parser (with the websocket handshake check on
          every request it yields), RFC 6455 frames, the port sniffer, client JSON (json_text) and MQTT.
          Each input is fed twice, whole and cut at random points: only the codec's own error may come
          out (ProtocolError, HttpError, WebSocketError, StatusError, ValueError as documented), and
          both feeds must agree on what was decoded.
  live    the real server (`python3 -m blynklite`) on free 127.0.0.1 ports with a work folder of its
          own. A bystander device (plain port) and app (TLS) exchange a steady trickle of pin writes
          both ways while a second process opens connection after connection to every port (plain, TLS
          shared, TLS hardware, MQTT) and throws mutated frames, frames with mutated bodies, requests,
          websocket frames, MQTT packets, TLS ClientHellos and random bytes, before and after logging in
          to accounts of its own. Then the server gets SIGTERM; its exit status and log are checked.
Inputs are mutated valid messages (frames of every command code in codec/commands.py, requests for the
REST routes, websocket frames, ClientHellos made by this Python's ssl module) plus random bytes, all from
one seeded RNG: the seed is printed, and `--seed` replays the codec phase exactly (the live phase depends
on timing as well). Fuzz connections come from random 127.x.y.z source addresses, so a per-address
limit in the server never falls on the bystander at 127.0.0.1. Only 127.0.0.1 is ever a target.

Figures that must hold: no unexpected exceptions, hangs or chunking disagreements in the codecs; no
bystander loss, disconnect or stray message; the server up at the end, exit status 0 after SIGTERM and no
traceback in its log. The exit status is 1 when one does not. Findings are grouped by fault, each with
its count and the shortest input that caused it as a Python expression, so it can be replayed. The
work folder (log, data) is kept when something failed. It prints figures, never asserts wall time.
"""
import argparse
import collections
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from blynklite.codec import body as body_codec  # noqa: E402
from blynklite.codec import json_text  # noqa: E402
from blynklite.codec import mqtt  # noqa: E402
from blynklite.codec import sniffer  # noqa: E402
from blynklite.codec import websocket as ws  # noqa: E402
from blynklite.codec.commands import Command, StatusError  # noqa: E402
from blynklite.codec.frames import (APP, APP_HEADER, APP_MAX_BODY, HARDWARE, HARDWARE_MAX_BODY,  # noqa: E402
                                    DashWsDecoder, ProtocolError, app_decoder, hardware_decoder)
from blynklite.codec.http import HttpError, RequestParser  # noqa: E402
from blynklite.passwords import password_hash  # noqa: E402

HOST = "127.0.0.1"
DEFAULT_INPUTS = 3_000_000          # the issue asks for at least 1,000,000 across codecs; ~70 s here
DEFAULT_SECONDS = 90                # live phase; with the codec phase the default run takes a few minutes
DEFAULT_CONNECTIONS = 8             # concurrent fuzz connections: enough to load 2 shared cores, not more
# An input is a few hundred bytes; a codec still busy with one after this long is stuck in a loop.
HANG_SECONDS = 10.0
# Inputs are mostly short, so each mutation path is tried often; a few grow large to reach the limits.
MAX_RANDOM_BYTES = 300
MAX_GROWN_BYTES = 70_000
# How many findings per kind are printed in full (the counts are always complete), and how long
# the printed input may get; runs of 16 bytes or more are folded into `unit * n`.
SHOW_FINDINGS = 8
MAX_SHOWN = 1500
RUN_FOLD = 16
START_TIMEOUT = 20.0
BYSTANDER_RATE = 50                 # writes per second each way: half the default per-connection quota
BYSTANDER_GRACE = 3.0               # after the last write, how long late deliveries are waited for
QUIET_SECONDS = 5.0                 # the bystander alone first: its latency without fuzzing, to compare
APP_PING_PERIOD = 5.0               # keeps the bystander app well inside app.socket.idle.timeout
SOCKET_TIMEOUT = 2.0                # any one connect, handshake or send of a fuzz connection
KEEPER_PERIOD = 3.0                 # how often the fuzz account's devices and tokens are restored
PASSWORD = "fuzz-pass-1"
BYSTANDER_EMAIL = "bystander@fuzz.test"
FUZZ_EMAIL = "fuzzer@fuzz.test"
VICTIM_EMAIL = "victim@fuzz.test"   # mutated logins aim here, so the fuzz account itself is never throttled
FUZZ_DEVICES = 4
# Pushes the bystander may see besides the values: its device coming online (the app logs in first)
# and the app-connected notice a device gets (spec/app.md §2.4).
BYSTANDER_NOTICES = {("app", Command.HARDWARE_CONNECTED), ("device", Command.BLYNK_INTERNAL)}
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
LOG_LEVEL_LINE = re.compile(r" (ERROR|CRITICAL|WARNING|WARN) ")


# ==================================================================================================
# Generating inputs
# ==================================================================================================
INTERESTING_8 = (0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x0A, 0x0D, 0x2D, 0x30, 0x39)
INTERESTING_16 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x3FF, 0x400, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
INTERESTING_32 = (0, 1, 0x7F, 0xFF, 0xFFFF, 0x10000, 9_999_999, 10_000_000, 10_000_001, 0x7FFFFFFF,
                  0x80000000, 0xFFFFFFFF)
# Tokens that steer parsers into their corners: separators, signs, escapes, lone surrogates, big numbers.
DICTIONARY = [
    b"\x00", b"\r\n", b"\n", b"\r", b"\r\n\r\n", b" ", b"\t", b"-", b"--", b"+", b"0", b"-1", b"255", b"256",
    b"2147483647", b"2147483648", b"-2147483649", b"99999999999999999999", b"1e308", b"NaN", b"vw", b"dw",
    b"aw", b"vr", b"dr", b"ar", b"pm", b"in", b"out", b"\xff", b"\xc3\xa9", b"\xed\xa0\x80", b"\xf0\x9f\x98",
    b'"\\ud800"', b'"\\u0000"', b"\\", b'"', b"{", b"}", b"[", b"]", b"null", b"true", b"[]", b"{}",
    b"Content-Length: ", b"Transfer-Encoding: chunked", b"Connection: close", b"Connection: Upgrade",
    b"Upgrade: websocket", b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"%", b"%00", b"%ff", b"%C3%A9", b"?", b"&", b"=", b";", b":",
    b"ffffffff", b"0\r\n\r\n", b"/websockets", b"/dashws", b"/admin", b"\x16\x03\x01", b"\x16\x03\x03",
]


NESTING = (b"[", b"{", b'{"a":', b'[{"b":', b"((", b"[[")
NESTING_DEPTHS = (10, 100, 1000, 3000)   # CPython's recursion limit is 1000


class Mutator:
    """Byte-level mutations of a seed: AFL's classic set, plus dictionary tokens and splicing."""

    def __init__(self, rng, seeds):
        self.rng = rng
        self.seeds = seeds
        self.ops = (self.flip_bit, self.set_byte, self.interesting_8, self.interesting_16,
                    self.interesting_32, self.insert_random, self.insert_token, self.delete_range,
                    self.duplicate_range, self.truncate, self.splice, self.arith, self.overwrite_token,
                    self.deep_nesting)

    def generate(self):
        """One input: mostly 1-3 (mutated) seeds in a row, sometimes pure random bytes."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            return rng.randbytes(rng.randrange(MAX_RANDOM_BYTES))
        count = 1 if roll < 0.7 else rng.randrange(2, 4)
        parts = []
        for _ in range(count):
            seed = rng.choice(self.seeds)
            parts.append(self.mutate(seed) if rng.random() < 0.85 else seed)
        return b"".join(parts)

    def mutate(self, data):
        buf = bytearray(data)
        rng = self.rng
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 8))):
            rng.choice(self.ops)(buf)
        if len(buf) > MAX_GROWN_BYTES:
            del buf[MAX_GROWN_BYTES:]
        return bytes(buf)

    def _pos(self, buf):
        return self.rng.randrange(len(buf)) if buf else 0

    def flip_bit(self, buf):
        if buf:
            buf[self._pos(buf)] ^= 1 << self.rng.randrange(8)

    def set_byte(self, buf):
        if buf:
            buf[self._pos(buf)] = self.rng.randrange(256)

    def interesting_8(self, buf):
        if buf:
            buf[self._pos(buf)] = self.rng.choice(INTERESTING_8)

    def interesting_16(self, buf):
        if len(buf) >= 2:
            at = self.rng.randrange(len(buf) - 1)
            buf[at:at + 2] = struct.pack(">H", self.rng.choice(INTERESTING_16))

    def interesting_32(self, buf):
        if len(buf) >= 4:
            at = self.rng.randrange(len(buf) - 3)
            buf[at:at + 4] = struct.pack(">I", self.rng.choice(INTERESTING_32))

    def arith(self, buf):
        if buf:
            at = self._pos(buf)
            buf[at] = (buf[at] + self.rng.randrange(-16, 17)) & 0xFF

    def insert_random(self, buf):
        at = self.rng.randrange(len(buf) + 1)
        buf[at:at] = self.rng.randbytes(self.rng.randrange(1, 17))

    def insert_token(self, buf):
        at = self.rng.randrange(len(buf) + 1)
        buf[at:at] = self.rng.choice(DICTIONARY)

    def overwrite_token(self, buf):
        token = self.rng.choice(DICTIONARY)
        at = self.rng.randrange(len(buf) + 1)
        buf[at:at + len(token)] = token

    def deep_nesting(self, buf):
        """Brackets nested deeper than any parser's recursion limit, as JSON bombs do."""
        at = self.rng.randrange(len(buf) + 1)
        buf[at:at] = self.rng.choice(NESTING) * self.rng.choice(NESTING_DEPTHS)

    def delete_range(self, buf):
        if buf:
            at = self._pos(buf)
            del buf[at:at + self.rng.randrange(1, 33)]

    def duplicate_range(self, buf):
        if buf:
            at = self._pos(buf)
            piece = buf[at:at + self.rng.randrange(1, 65)]
            times = self.rng.choice((1, 1, 2, 10, 100, 1000))
            where = self.rng.randrange(len(buf) + 1)
            buf[where:where] = piece * times

    def truncate(self, buf):
        if buf:
            del buf[self._pos(buf):]

    def splice(self, buf):
        other = self.rng.choice(self.seeds)
        if other:
            cut = self.rng.randrange(len(other))
            at = self.rng.randrange(len(buf) + 1)
            buf[at:] = other[cut:]


def random_cuts(rng, data):
    """`data` cut at up to 6 random points, or byte by byte when it is short."""
    if len(data) <= 24 and rng.random() < 0.3:
        return [data[i:i + 1] for i in range(len(data))]
    points = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randrange(1, 7)))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


# -- seeds: valid messages ------------------------------------------------------------------------
def _join(*fields):
    return "\0".join(str(f) for f in fields).encode("utf-8")


FAKE_TOKEN = "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW"      # 32 characters, like a device token
WIDGET = '{"id":7,"type":"BUTTON","pinType":"VIRTUAL","pin":5,"x":0,"y":0,"width":2,"height":2}'
DEVICE = '{"id":3,"name":"Fuzz","boardType":"ESP8266"}'
DASH = '{"id":9,"name":"Fuzz dash","widgets":[' + WIDGET + ']}'
TAG = '{"id":100001,"name":"tag","deviceIds":[0]}'


def hardware_bodies(token=FAKE_TOKEN):
    """Body seeds a device would send, by command."""
    return {
        Command.HARDWARE_LOGIN: [token.encode()],
        Command.LOGIN: [token.encode()],
        Command.PING: [b""],
        Command.HARDWARE: [_join("vw", 1, 100), _join("dw", 13, 1), _join("aw", 0, 512), _join("vr", 1),
                           _join("pm", 1, "out", 2, "in"), _join("vw", 5, "a", "b", "c"), _join("dr", 2)],
        Command.HARDWARE_SYNC: [b"", _join("vr", 1, 2, 3), _join("dr", 4)],
        Command.BLYNK_INTERNAL: [_join("ver", "0.5.0", "h-beat", 10, "buff-in", 1024, "dev", "ESP8266"),
                                 _join("rtc"), _join("ota", "http://x/y.bin")],
        Command.SET_WIDGET_PROPERTY: [_join(1, "label", "hi"), _join(5, "color", "#FF0000")],
        Command.BRIDGE: [_join(1, "i", FAKE_TOKEN), _join(1, "vw", 2, 3)],
        Command.EMAIL: [_join("a@b.c", "subject", "body")],
        Command.PUSH_NOTIFICATION: [b"hello"],
        Command.SMS: [b"sms text"],
        Command.TWEET: [b"tweet text"],
    }


def app_bodies(email=VICTIM_EMAIL):
    """Body seeds an app would send, by command (spec/app.md §3)."""
    hashed = password_hash(PASSWORD, email)
    bodies = {
        Command.REGISTER: [_join(email, hashed, "Blynk")],
        Command.LOGIN: [_join(email, hashed, "Android", "2.27.0", "Blynk"), _join(email, hashed)],
        Command.SHARE_LOGIN: [_join(email, FAKE_TOKEN, "Android", "2.27.0")],
        Command.GET_SERVER: [_join(email, "Blynk")],
        Command.RESET_PASSWORD: [_join("start", email, "Blynk"), _join("verify", FAKE_TOKEN)],
        Command.HARDWARE: [_join("1-0", "vw", 1, 5), _join("1", "dw", 13, 0), _join("1-0", "vr", 2)],
        Command.APP_SYNC: [b"1", b"1-0"],
        Command.ACTIVATE_DASHBOARD: [b"1"], Command.DEACTIVATE_DASHBOARD: [b"1", b""],
        Command.LOAD_PROFILE_GZIPPED: [b"", b"1", _join(FAKE_TOKEN, 1, email)],
        Command.CREATE_DASH: [DASH.encode(), _join("no_token", DASH)],
        Command.UPDATE_DASH: [DASH.encode()], Command.DELETE_DASH: [b"9"],
        Command.UPDATE_PROJECT_SETTINGS: [_join(1, '{"isShared":true,"theme":"Blynk"}')],
        Command.CREATE_WIDGET: [_join(1, WIDGET), _join(1, 7, 1, WIDGET)],
        Command.UPDATE_WIDGET: [_join(1, WIDGET)], Command.DELETE_WIDGET: [_join(1, 7)],
        Command.GET_WIDGET: [_join(1, 7)],
        Command.CREATE_DEVICE: [_join(1, DEVICE)], Command.UPDATE_DEVICE: [_join(1, DEVICE)],
        Command.DELETE_DEVICE: [_join(1, 3)], Command.GET_DEVICES: [b"1"],
        Command.MOBILE_GET_DEVICE: [_join(1, 0)], Command.REFRESH_TOKEN: [_join(1, 3)],
        Command.CREATE_TAG: [_join(1, TAG)], Command.UPDATE_TAG: [_join(1, TAG)],
        Command.DELETE_TAG: [_join(1, 100001)], Command.GET_TAGS: [b"1"],
        Command.GET_ENERGY: [b""], Command.ADD_ENERGY: [_join(1000, "tx-1")], Command.REDEEM: [b"code"],
        Command.ADD_PUSH_TOKEN: [_join(1, "uid", "push-token")], Command.SHARING: [_join(1, "on")],
        Command.GET_SHARE_TOKEN: [b"1"], Command.REFRESH_SHARE_TOKEN: [b"1"],
        Command.EMAIL: [b"1", _join(1, 0)], Command.EXPORT_GRAPH_DATA: [_join(1, 7)],
        Command.GET_ENHANCED_GRAPH_DATA: [_join(1, 7, "DAY")],
        Command.DELETE_ENHANCED_GRAPH_DATA: [_join(1, 7)], Command.GET_CLONE_CODE: [b"1"],
        Command.GET_PROJECT_BY_CLONE_CODE: [FAKE_TOKEN.encode()],
        Command.GET_PROJECT_BY_TOKEN: [FAKE_TOKEN.encode()], Command.EMAIL_QR: [b"1"],
        Command.CREATE_TILE_TEMPLATE: [_join(1, 7, '{"id":1,"name":"t"}')],
        Command.UPDATE_TILE_TEMPLATE: [_join(1, 7, '{"id":1,"name":"t"}')],
        Command.DELETE_TILE_TEMPLATE: [_join(1, 7, 1)], Command.DELETE_DEVICE_DATA: [_join(1, 0)],
        Command.GET_PROVISION_TOKEN: [_join(1, DEVICE)], Command.LOGOUT: [b"", b"uid"],
        Command.PING: [b""], Command.SET_WIDGET_PROPERTY: [_join(1, 7, "label", "x")],
        Command.HARDWARE_RESEND_FROM_BLUETOOTH: [_join("1-0", "vw", 1, 5)],
        Command.CREATE_APP: [b'{"id":"x","theme":"Blynk"}'], Command.UPDATE_FACE: [b"1"],
    }
    return bodies


def every_command_frames(framing, bodies):
    """One valid frame per body seed, plus a frame of every other command code, plus responses."""
    frames = []
    for command in sorted(v for k, v in vars(Command).items() if k.isupper() and k != "FIRST_INVALID"):
        if command == Command.RESPONSE:
            frames += [framing.response(i, status) for i, status in ((1, 200), (2, 2), (65535, 9))]
            continue
        for body in bodies.get(command, [b"1", _join(1, 0)]):
            frames.append(framing.message(command, len(frames) % 65535 + 1, body))
    return frames


def dashws_messages(bodies):
    """App frames as /dashws carries them: `command msgId body`, no length (spec/framing.md §4.2)."""
    out = []
    for command, seeds in bodies.items():
        for body in seeds:
            out.append(struct.pack(">BH", command, 1) + body)
    out.append(APP_HEADER.pack(Command.RESPONSE, 1, 200))
    return out


def ws_frame(payload, opcode=ws.BINARY, fin=True, mask=b"\x37\xfa\x21\x3d"):
    """A masked client frame (RFC 6455 §5.2)."""
    size = len(payload)
    first = (0x80 if fin else 0) | opcode
    if size < 126:
        head = struct.pack(">BB", first, 0x80 | size)
    elif size < 65536:
        head = struct.pack(">BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack(">BBQ", first, 0x80 | 127, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def websocket_seeds():
    hw = every_command_frames(HARDWARE, hardware_bodies())
    seeds = [ws_frame(frame) for frame in hw[::3]]
    seeds += [ws_frame(b"text message", ws.TEXT), ws_frame(b"", ws.PING), ws_frame(b"pong", ws.PONG),
              ws_frame(struct.pack(">H", 1000) + b"bye", ws.CLOSE), ws_frame(b"", ws.CLOSE),
              ws_frame(b"a" * 200), ws_frame(b"b" * 70000)[:300],
              ws_frame(b"frag", ws.BINARY, fin=False) + ws_frame(b"ment", ws.CONTINUATION),
              ws_frame(b"x", ws.TEXT, fin=False) + ws_frame(b"", ws.PING) + ws_frame(b"y", ws.CONTINUATION)]
    return seeds


def http_seeds(tokens=(FAKE_TOKEN,)):
    """Requests for every REST route (spec/http-api.md), the websocket upgrades and the admin page."""
    routes = []
    for token in tokens:
        routes += [f"/{token}/get/V1", f"/{token}/update/V1?value=42", f"/{token}/update/D13?value=1&value=2",
                   f"/{token}/pin/V1", f"/{token}/extra/pin/V1", f"/{token}/isHardwareConnected",
                   f"/{token}/isAppConnected", f"/{token}/project", f"/{token}/rtc", f"/{token}/qr",
                   f"/{token}/notify", f"/{token}/email", f"/{token}/clone", f"/{token}/get/V255",
                   f"/{token}/get/A0", f"/{token}/update/V300?value=1"]
    routes += ["/", "/favicon.ico", "/static/admin.css", "/admin", "/admin/login", "/admin/users",
               "/admin/stats", "/nope", "/%2e%2e/%2e%2e/etc/passwd"]
    upgrade = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    seeds = []
    for route in routes:
        seeds.append(f"GET {route} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    token = tokens[0]
    for body in (b'["5"]', b'["\\ud800"]', b'["a","b"]', b"[]", b"{}", b'["' + b"9" * 50 + b'"]'):
        seeds.append(f"PUT /{token}/update/V5 HTTP/1.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    seeds += [
        f"POST /{token}/notify HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
        '{"body":"hi"}'.encode(),
        f"POST /{token}/email HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        '7\r\n{"to":1\r\n1\r\n}\r\n0\r\n\r\n'.encode(),
        f"PUT /{token}/update/V2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        '5\r\n["1"]\r\n0\r\nX: y\r\n\r\n'.encode(),
        b"POST /admin/login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 36\r\n\r\nemail=admin%40blynk.cc&password=abcd",
        ("GET /websockets HTTP/1.1\r\nHost: 127.0.0.1\r\n" + upgrade + "\r\n").encode(),
        ("GET /dashws HTTP/1.1\r\nHost: 127.0.0.1\r\n" + upgrade + "\r\n").encode(),
        ("GET /websocket HTTP/1.1\r\n" + upgrade.replace("13", "8") + "\r\n").encode(),
        f"HEAD /{token}/get/V1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode(),
        f"OPTIONS * HTTP/1.1\r\n\r\n".encode(),
        f"GET http://127.0.0.1:8080/{token}/get/V1 HTTP/1.1\r\n\r\n".encode(),
        f"GET /{token}/update/V1?value=caf\xc3\xa9 HTTP/1.1\r\n\r\n".encode("latin-1"),
    ]
    return seeds


def client_hellos():
    """ClientHello records as this Python's OpenSSL writes them: TLS 1.3 and 1.2-only, with and without SNI."""
    hellos = []
    for maximum, name in ((None, "localhost"), (ssl.TLSVersion.TLSv1_2, None), (None, None)):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if maximum is not None:
            context.maximum_version = maximum
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname=name)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hellos.append(outgoing.read())
    return hellos


def sniffer_seeds():
    seeds = []
    for hello in client_hellos():
        seeds += [hello, hello[:5], hello[:11], hello[:64]]
    seeds += [s[:16] for s in http_seeds()[::4]]
    seeds += [HARDWARE.message(Command.HARDWARE_LOGIN, 1, FAKE_TOKEN.encode()),
              HARDWARE.message(Command.LOGIN, 1, FAKE_TOKEN.encode()),
              APP.message(Command.LOGIN, 1, app_bodies()[Command.LOGIN][0]),
              APP.message(Command.REGISTER, 1, app_bodies()[Command.REGISTER][0]),
              APP.message(Command.GET_SERVER, 1, b"x")]
    return seeds


def json_seeds():
    """JSON as clients send it: dashboards, widgets, devices, tags, settings, pin values."""
    return [t.encode() for t in (DASH, WIDGET, DEVICE, TAG, '{"isShared":true,"theme":"Blynk"}', '["5"]',
                                 '["\\ud800"]', '{"\\udc00":"\\ud83d\\ude00"}', '[1.5e308,-0,null,true]',
                                 '{"a":[{"b":{"c":[]}}]}', '"text"', '123')]


def mqtt_seeds(token=FAKE_TOKEN, email=FUZZ_EMAIL):
    return [
        mqtt.connect("client-1", email, token.encode()), mqtt.connect("c", None, None),
        mqtt.connect("c", email, token.encode(), protocol=b"MQIsdp", level=3),
        mqtt.publish("hardware", b"vw 1 42"), mqtt.publish("hardware", b"dw 13 1", qos=1, packet_id=7),
        mqtt.publish("Hardware", b"vw 5 a b c", retain=True), mqtt.publish("other", b"x"),
        mqtt.encode(mqtt.PINGREQ, 0), mqtt.encode(mqtt.DISCONNECT, 0),
        mqtt.encode(mqtt.SUBSCRIBE, 2, struct.pack(">H", 1) + mqtt.string("hardware") + b"\x00"),
        mqtt.encode(mqtt.UNSUBSCRIBE, 2, struct.pack(">H", 2) + mqtt.string("hardware")),
        mqtt.encode(mqtt.PUBACK, 0, struct.pack(">H", 7)), mqtt.encode(mqtt.PUBREL, 2, struct.pack(">H", 7)),
    ]


# ==================================================================================================
# Phase 1: the codecs, in-process
# ==================================================================================================
class Hang(Exception):
    """Raised by the watchdog signal inside a codec that took longer than HANG_SECONDS on one input."""


def _frames(make_decoder):
    """Run a Blynk frame decoder over the pieces: (frames, error text or None)."""
    def run(pieces, rng):
        decoder = make_decoder()
        frames = []
        try:
            for piece in pieces:
                for command, msg_id, size, frame_body in decoder.feed(piece):
                    frames.append((command, msg_id, size, bytes(frame_body)))
        except ProtocolError as error:
            return frames, f"ProtocolError: {error}"
        return frames, None
    return run


def run_dashws(pieces, rng):
    """/dashws: each piece is one whole websocket message, so chunking does not apply."""
    decoder = DashWsDecoder()
    frames = []
    errors = []
    for piece in pieces:
        try:
            for command, msg_id, size, frame_body in decoder.feed(piece):
                frames.append((command, msg_id, size, bytes(frame_body)))
        except ProtocolError as error:
            errors.append(str(error))
    return frames, "; ".join(errors) or None


def run_body(pieces, rng):
    """What handlers do to a decoded body: UTF-8 with replacement, `\\0` fields, then the parsers."""
    text = str(b"".join(pieces), "utf-8", "replace")
    fields = body_codec.split(text)
    results = []
    for parse in (body_codec.parse_target, body_codec.parse_int, body_codec.parse_pin):
        for field in fields[:4]:
            try:
                results.append(parse(field))
            except StatusError as error:
                results.append(("status", error.status))
    for field in fields[:2]:
        letter = field[:1]
        if letter:
            try:
                results.append(body_codec.parse_pin_type(letter))
            except StatusError as error:
                results.append(("status", error.status))
    return results, None


def run_json(pieces, rng):
    """codec/json_text.loads on a body as handlers see it; its promise is ValueError or a value that
    always serializes again (no lone surrogate anywhere)."""
    text = str(b"".join(pieces), "utf-8", "replace")
    try:
        value = json_text.loads(text)
    except ValueError as error:
        return [], f"ValueError: {str(error)[:60]}"
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError) as error:
        raise AssertionError(f"json_text.loads returned a value that does not serialize: {error}") from None
    return [repr(value)[:200]], None


def run_mqtt(pieces, rng):
    decoder = mqtt.MqttDecoder()
    packets = []
    try:
        for piece in pieces:
            for packet in decoder.feed(piece):
                packets.append((type(packet).__name__,) + tuple(getattr(packet, n) for n in packet.__slots__))
    except ProtocolError as error:
        return packets, f"ProtocolError: {error}"
    return packets, None


HTTP_LIMITS = ((8192, 524288), (16384, 524288), (64, 64), (256, 16))


def run_http(pieces, rng, limits=None):
    """Feed pieces as HttpSession does (feed, then next_request until None) and check each request
    as a websocket upgrade would; the limits come from HTTP_LIMITS, chosen per input."""
    max_header, max_body = limits
    parser = RequestParser(max_header_bytes=max_header, max_body_bytes=max_body)
    requests = []
    try:
        for piece in pieces:
            parser.feed(piece)
            while True:
                request = parser.next_request()
                if request is None:
                    break
                requests.append(_request_summary(request))
    except HttpError as error:
        return requests, f"HttpError {error.status}"
    return requests, None


def _request_summary(request):
    upgrade = None
    if request.is_websocket_upgrade() or request.method == "GET":
        try:
            upgrade = ws.handshake_response(request)
        except HttpError as error:
            upgrade = error.status
    return (request.method, request.target, request.path, sorted(request.query.items()), request.version,
            tuple(request.headers), request.body, request.keep_alive, request.header("host"),
            sorted(request.tokens("connection")), upgrade)


def run_websocket(pieces, rng, max_message=ws.DEFAULT_MAX_MESSAGE):
    decoder = ws.FrameDecoder(max_message)
    events = []
    try:
        for piece in pieces:
            for event in decoder.feed(piece):
                events.append(repr(event))
    except ws.WebSocketError as error:
        return events, f"WebSocketError {error.close_code}"
    return events, None


def run_sniffer(pieces, rng):
    """The Sniffer protocol's way: gather bytes until PEEK_SIZE, then detect once, on both port kinds."""
    data = b""
    for piece in pieces:
        data += piece
        if len(data) >= sniffer.PEEK_SIZE:
            break
    if len(data) < sniffer.PEEK_SIZE:
        try:
            sniffer.detect(data, True)
        except ValueError:
            return [], "ValueError: short"
        return [], "no error for a short head"
    return [sniffer.detect(data, True), sniffer.detect(data, False)], None


class Codec:
    """One target: its seeds, how to run it, the only exception it may raise, and whether any
    chunking of an input must decode the same."""

    def __init__(self, name, seeds, run, allowed, chunking=True, variant=None):
        self.name = name
        self.seeds = seeds
        self.run = run
        self.allowed = allowed
        self.chunking = chunking
        self.variant = variant          # chooses per-input settings (limits) from the RNG


def codecs():
    hw_frames = every_command_frames(HARDWARE, hardware_bodies())
    app_frames = every_command_frames(APP, app_bodies())
    all_bodies = [b for seeds in list(hardware_bodies().values()) + list(app_bodies().values()) for b in seeds]
    return [
        Codec("hardware frames", hw_frames, _frames(hardware_decoder), ProtocolError),
        Codec("app frames", app_frames, _frames(app_decoder), ProtocolError),
        Codec("app websocket", dashws_messages(app_bodies()), run_dashws, ProtocolError, chunking=False),
        Codec("bodies", all_bodies, run_body, StatusError),
        Codec("http", http_seeds(), run_http, HttpError, variant=lambda rng: rng.choice(HTTP_LIMITS)),
        Codec("websocket", websocket_seeds(), run_websocket, ws.WebSocketError,
              variant=lambda rng: rng.choice((ws.DEFAULT_MAX_MESSAGE, ws.DEFAULT_MAX_MESSAGE, 100))),
        Codec("sniffer", sniffer_seeds(), run_sniffer, ValueError),
        Codec("json text", json_seeds(), run_json, ValueError, chunking=False),
        Codec("mqtt", mqtt_seeds(), run_mqtt, ProtocolError),
    ]


class Findings:
    """Counts per kind of finding, grouped by the fault (`key`: where it happened and what it was),
    with the shortest example of each fault kept for its reproduction."""

    def __init__(self):
        self.counts = collections.Counter()
        self.faults = collections.defaultdict(dict)      # kind -> key -> [count, size, example]

    def add(self, kind, text, key=None, size=0):
        self.counts[kind] += 1
        fault = self.faults[kind].setdefault(text if key is None else key, [0, size, text])
        fault[0] += 1
        if size < fault[1]:
            fault[1:] = [size, text]

    def report(self):
        for kind, faults in self.faults.items():
            print(f"### {kind}: {self.counts[kind]:,} ({len(faults)} distinct)")
            ranked = sorted(faults.values(), key=lambda fault: -fault[0])
            for count, _, example in ranked[:SHOW_FINDINGS]:
                print(f"{count:,} x {example}")
                print()
            if len(ranked) > SHOW_FINDINGS:
                print(f"... and {len(ranked) - SHOW_FINDINGS} more distinct\n")


def blynklite_frame(error):
    """file:line of the innermost frame in blynklite/ (else the innermost frame) of an exception."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if f"{os.sep}blynklite{os.sep}" in f.filename] or frames
    where = ours[-1]
    return f"{os.path.relpath(where.filename, ROOT) if where.filename.startswith(ROOT) else where.filename}" \
           f":{where.lineno}"


def _call(codec, pieces, rng, setting):
    if setting is None:
        return codec.run(pieces, rng)
    return codec.run(pieces, rng, setting)


def fuzz_codec(codec, inputs, rng, findings):
    """Try `inputs` generated inputs on one codec. Returns (inputs tried, seconds, slowest seconds,
    inputs the codec refused, messages it decoded)."""
    mutator = Mutator(rng, codec.seeds)
    slowest = 0.0
    refused = decoded = 0
    started = time.perf_counter()
    previous = signal.signal(signal.SIGALRM, _raise_hang)
    try:
        for number in range(inputs):
            data = mutator.generate()
            setting = codec.variant(rng) if codec.variant else None
            pieces = random_cuts(rng, data) if codec.chunking else [data]
            signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
            t0 = time.perf_counter()
            try:
                whole = _call(codec, [data], rng, setting)
                chunked = _call(codec, pieces, rng, setting) if codec.chunking else None
            except codec.allowed:
                continue
            except Hang:
                findings.add("hangs", f"{codec.name}: over {HANG_SECONDS} s on input {shown(data)}",
                             key=codec.name, size=len(data))
                continue
            except Exception as error:                      # the finding this tool exists for
                where = blynklite_frame(error)
                findings.add("unexpected exceptions",
                             f"{codec.name}: {type(error).__name__}: {str(error)[:200]} at {where}\n"
                             f"    input {shown(data)}\n    cuts {[len(p) for p in pieces]} setting {setting}",
                             key=(codec.name, type(error).__name__, where), size=len(data))
                continue
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - t0
            if took > slowest:
                slowest = took
            refused += whole[1] is not None
            decoded += len(whole[0])
            if chunked is not None and chunked != whole:
                findings.add("chunking disagreements",
                             f"{codec.name}: whole {_short(whole)} vs cut {_short(chunked)}\n"
                             f"    input {shown(data)}\n    cuts {[len(p) for p in pieces]} setting {setting}",
                             key=(codec.name, whole[1], chunked[1]), size=len(data))
    finally:
        signal.signal(signal.SIGALRM, previous)
    return inputs, time.perf_counter() - started, slowest, refused, decoded


def shown(data):
    """`data` as a Python expression that rebuilds it, runs folded (`b'[' * 1000 + b'1'`); cut at
    MAX_SHOWN characters, where the seed is the way to replay it."""
    parts, literal, at = [], bytearray(), 0
    while at < len(data):
        unit, times = _longest_run(data, at)
        if unit is None:
            literal.append(data[at])
            at += 1
            continue
        if literal:
            parts.append(repr(bytes(literal)))
            literal.clear()
        parts.append(f"{bytes(unit)!r} * {times}")
        at += len(unit) * times
    if literal:
        parts.append(repr(bytes(literal)))
    text = " + ".join(parts) or "b''"
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f" ... ({len(data)} bytes; replay with the seed)"


def _longest_run(data, at):
    """(unit, repetitions) of the longest run of a 1-8 byte unit starting at `at`, if it covers at
    least RUN_FOLD bytes; else (None, 0)."""
    best, best_times = None, 0
    for size in range(1, 9):
        unit = data[at:at + size]
        if len(unit) < size:
            break
        times = 1
        while data[at + times * size:at + (times + 1) * size] == unit:
            times += 1
        if times * size >= RUN_FOLD and times * size > len(best or b"") * best_times:
            best, best_times = unit, times
    return best, best_times


def _raise_hang(signum, frame):
    raise Hang()


def _short(outcome):
    text = repr(outcome)
    return text if len(text) < 300 else text[:300] + "..."


def codec_phase(total_inputs, seed, findings, names=None):
    rng = random.Random(seed)
    targets = [codec for codec in codecs() if names is None or codec.name in names]
    share = total_inputs // len(targets)
    rows = []
    for number, codec in enumerate(targets):
        inputs = share + (total_inputs - share * len(targets) if number == 0 else 0)
        tried, seconds, slowest, refused, decoded = fuzz_codec(codec, inputs, rng, findings)
        rows.append((codec.name, tried, seconds, slowest, refused, decoded))
        print(f"  {codec.name:<16} {tried:>10,} inputs in {seconds:6.1f} s, {refused:,} refused, "
              f"{decoded:,} messages decoded (slowest input {slowest * 1000:.1f} ms)", flush=True)
    return rows


# ==================================================================================================
# Phase 2: a live server
# ==================================================================================================
def free_ports(count):
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Server:
    """The real server in a subprocess, configured like tests/conftest.py does (a temp work folder)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.hw_port, self.app_port, self.hw_ssl_port, self.mqtt_port = free_ports(4)
        self.properties = {
            "http.port": self.hw_port, "https.port": self.app_port, "hardware.ssl.port": self.hw_ssl_port,
            "hardware.mqtt.port": self.mqtt_port, "listen.address": HOST, "server.host": HOST,
            "data.folder": os.path.join(workdir, "data"), "logs.folder": os.path.join(workdir, "logs"),
            "log.level": "info", "admin.pass": "fuzz-admin-" + os.urandom(6).hex(),
            "profile.save.worker.period": 2000,
        }
        self.process = None
        self.output_path = os.path.join(workdir, "stdout.txt")

    def start(self):
        config = os.path.join(self.workdir, "server.properties")
        with open(config, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in self.properties.items()))
        env = dict(os.environ, PYTHONPATH=ROOT, no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
        self._output = open(self.output_path, "w+")
        self.process = subprocess.Popen([sys.executable, "-m", "blynklite", "-serverConfig", config],
                                        cwd=self.workdir, env=env, stdout=self._output,
                                        stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with open(self.output_path) as f:
                if any(line.startswith("Started in") for line in f):
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not start:\n" + open(self.output_path).read())

    def rss_kb(self, field="VmRSS"):
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def stop(self):
        """SIGTERM, then (bounded) SIGKILL; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._output.close()
        return self.process.returncode

    def texts(self):
        """(log file text, stdout/stderr text)."""
        log_dir = os.path.join(self.workdir, "logs")
        log = ""
        if os.path.isdir(log_dir):
            for name in sorted(os.listdir(log_dir)):
                with open(os.path.join(log_dir, name), errors="replace") as f:
                    log += f.read()
        with open(self.output_path, errors="replace") as f:
            return log, f.read()


def tls_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class AppLink:
    """A small blocking app connection, enough to set accounts up (blynklite.client.AppClient would
    do too; this one also takes a source address)."""

    def __init__(self, port, source=None):
        sock = socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT * 3,
                                        source_address=(source, 0) if source else None)
        self.sock = tls_context().wrap_socket(sock)
        self.decoder = app_decoder()
        self.pending = collections.deque()
        self.msg_id = 0

    def close(self):
        self.sock.close()

    def request(self, command, body=b"", timeout=5.0):
        """Send and return the first reply with our message id: (command, status or body)."""
        self.msg_id = self.msg_id % 0xFFFF + 1
        self.sock.sendall(APP.message(command, self.msg_id, body))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.pending:
                reply = self.pending.popleft()
                if reply[1] == self.msg_id and reply[0] in (Command.RESPONSE, command):
                    return reply[0], reply[2]
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                raise ConnectionError("server closed the setup connection")
            for c, m, size, b in self.decoder.feed(data):
                self.pending.append((c, m, size if c == Command.RESPONSE else bytes(b)))
        raise TimeoutError(f"no reply to command {command}")


def account(port, email, source=None):
    """Register (if needed) and log in; returns the logged-in AppLink."""
    link = AppLink(port, source)
    hashed = password_hash(PASSWORD, email)
    link.request(Command.REGISTER, _join(email, hashed, "Blynk"))
    link.close()
    link = AppLink(port, source)
    command, status = link.request(Command.LOGIN, _join(email, hashed, "Android", "2.27.0", "Blynk"))
    if status != 200:
        raise RuntimeError(f"login of {email} answered {status}")
    return link


def ensure_devices(link, count):
    """Dash 1 with devices 0..count-1, active; returns their tokens. Recreates what fuzzing deleted."""
    import zlib
    link.request(Command.CREATE_DASH, b'{"id":1,"name":"Fuzz"}')
    command, payload = link.request(Command.LOAD_PROFILE_GZIPPED, b"1")
    dash = json.loads(zlib.decompress(payload)) if command == Command.LOAD_PROFILE_GZIPPED else {}
    have = {d.get("id") for d in dash.get("devices") or ()}
    for device_id in range(count):
        if device_id not in have:
            link.request(Command.CREATE_DEVICE, _join(1, json.dumps({"id": device_id, "name": f"d{device_id}",
                                                                      "boardType": "ESP8266"})))
    tokens = []
    for device_id in range(count):
        command, payload = link.request(Command.MOBILE_GET_DEVICE, _join(1, device_id))
        if command == Command.MOBILE_GET_DEVICE:
            token = json.loads(payload).get("token")
            if token:
                tokens.append(token)
    link.request(Command.ACTIVATE_DASHBOARD, b"1")
    return tokens


# -- the bystander ---------------------------------------------------------------------------------
class Bystander:
    """A device on the plain port and an app over TLS, both from 127.0.0.1, writing pin values to each
    other at BYSTANDER_RATE per second; every value carries its sequence number, so each delivery is
    matched to its send time (loss, latency). One thread, one selector: no TLS object is shared."""

    def __init__(self, server, token):
        self.server = server
        self.app = account(server.app_port, BYSTANDER_EMAIL)
        self.app.sock.setblocking(False)
        device = socket.create_connection((HOST, server.hw_port), timeout=5)
        device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        device.sendall(HARDWARE.message(Command.HARDWARE_LOGIN, 1, token.encode()))
        decoder = hardware_decoder()
        reply = None
        deadline = time.monotonic() + 5
        while reply is None and time.monotonic() < deadline:
            for c, m, size, b in decoder.feed(device.recv(4096)):
                reply = (c, size)
        if reply != (Command.RESPONSE, 200):
            raise RuntimeError(f"bystander device login answered {reply}")
        device.setblocking(False)
        self.device = device
        self.device_decoder = decoder
        self.app_decoder = self.app.decoder
        self.sent = {"device->app": {}, "app->device": {}}
        self.latency = {"device->app": [], "app->device": []}
        self.unexpected = collections.Counter()
        self.disconnects = []
        self.stop_at = None
        self.thread = None

    def start(self, seconds):
        self.stop_at = time.monotonic() + seconds
        self.thread = threading.Thread(target=self._loop, name="bystander", daemon=True)
        self.thread.start()

    def join(self):
        self.thread.join(timeout=BYSTANDER_GRACE + 30)

    def _loop(self):
        selector = selectors.DefaultSelector()
        selector.register(self.device, selectors.EVENT_READ, "device")
        selector.register(self.app.sock, selectors.EVENT_READ, "app")
        period = 1.0 / BYSTANDER_RATE
        next_write = time.monotonic()
        next_ping = next_write + APP_PING_PERIOD
        seq = 0
        end = self.stop_at + BYSTANDER_GRACE
        while True:
            now = time.monotonic()
            if now >= end or len(self.disconnects) == 2:
                break
            if now < self.stop_at and now >= next_write:
                seq += 1
                self._send_pair(seq, now)
                next_write += period
            if now >= next_ping:
                self._write("app", APP.message(Command.PING, 0xFFF0, b""))
                next_ping += APP_PING_PERIOD
            wait = max(0.0, min(next_write, next_ping, end) - time.monotonic())
            for key, _ in selector.select(wait if now < self.stop_at else min(wait, 0.05)):
                self._read(key.data)
            if self.app.sock.pending():
                self._read("app")
        selector.close()
        self.device.close()
        self.app.close()

    def _send_pair(self, seq, now):
        self.sent["device->app"][seq] = now
        self._write("device", HARDWARE.message(Command.HARDWARE, seq % 0xFFF0 + 1, _join("vw", 1, seq)))
        self.sent["app->device"][seq] = now
        self._write("app", APP.message(Command.HARDWARE, seq % 0xFFF0 + 1, _join("1-0", "vw", 2, seq)))

    def _write(self, which, data):
        if which in self.disconnects:
            return
        sock = self.device if which == "device" else self.app.sock
        view = memoryview(data)
        deadline = time.monotonic() + SOCKET_TIMEOUT
        while view:
            try:
                sent = sock.send(view)
                view = view[sent:]
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                if time.monotonic() > deadline:
                    self.disconnects.append(which)
                    return
                time.sleep(0.001)
            except OSError as error:
                self.disconnects.append(f"{which}: {error}")
                return

    def _read(self, which):
        sock = self.device if which == "device" else self.app.sock
        try:
            data = sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError as error:
            self.disconnects.append(f"{which}: {error}")
            return
        if not data:
            self.disconnects.append(f"{which}: closed by the server")
            return
        now = time.monotonic()
        decoder = self.device_decoder if which == "device" else self.app_decoder
        try:
            for command, msg_id, size, frame_body in decoder.feed(data):
                self._delivered(which, command, msg_id, size, bytes(frame_body), now)
        except ProtocolError as error:
            self.disconnects.append(f"{which}: bad frame {error}")

    def _delivered(self, which, command, msg_id, size, frame_body, now):
        if command == Command.RESPONSE:
            if size != 200:
                self.unexpected[f"{which} got status {size}"] += 1
            return
        if (which, command) in BYSTANDER_NOTICES:
            return
        fields = frame_body.split(b"\0")
        if which == "app" and command == Command.HARDWARE and fields[:3] == [b"1-0", b"vw", b"1"]:
            direction, seq = "device->app", fields[3]
        elif which == "device" and command == Command.HARDWARE and fields[:2] == [b"vw", b"2"]:
            direction, seq = "app->device", fields[2]
        else:
            self.unexpected[f"{which} got command {command}"] += 1
            return
        sent = self.sent[direction].pop(int(seq), None)
        if sent is None:
            self.unexpected[f"{direction}: duplicate or unknown value {seq!r}"] += 1
        else:
            self.latency[direction].append((sent, now - sent))

    def figures(self, fuzz_from):
        """Loss over the whole run; latency of the writes sent before `fuzz_from` (quiet) and after."""
        out = {}
        for direction in ("device->app", "app->device"):
            quiet = sorted(latency for sent, latency in self.latency[direction] if sent < fuzz_from)
            loaded = sorted(latency for sent, latency in self.latency[direction] if sent >= fuzz_from)
            lost = len(self.sent[direction])
            delivered = len(quiet) + len(loaded)
            out[direction] = {
                "sent": delivered + lost, "delivered": delivered, "lost": lost,
                "quiet_p50_ms": _percentile(quiet, 0.50) * 1000, "quiet_p99_ms": _percentile(quiet, 0.99) * 1000,
                "p50_ms": _percentile(loaded, 0.50) * 1000, "p99_ms": _percentile(loaded, 0.99) * 1000,
                "max_ms": (loaded[-1] if loaded else 0.0) * 1000,
            }
        return out


def _percentile(values, q):
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


# -- the fuzz load (a separate process, so the bystander's figures are its own) ---------------------
class LiveFuzzer:
    """Runs in the worker process: DEFAULT_CONNECTIONS threads, each opening connection after
    connection with a random plan (port, protocol, before or after login) and mutated input."""

    def __init__(self, config):
        self.config = config
        self.ports = {"plain": config["hw_port"], "tls": config["app_port"], "hwtls": config["hw_ssl_port"],
                      "mqtt": config["mqtt_port"]}
        self.tokens = list(config["tokens"]) or [FAKE_TOKEN]
        self.deadline = time.monotonic() + config["seconds"]
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        self.client_errors = []
        rng = random.Random(config["seed"])
        self.seed_of_thread = [rng.getrandbits(64) for _ in range(config["connections"])]
        self.keeper_seed = rng.getrandbits(64)

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def run(self):
        threads = [threading.Thread(target=self._worker, args=(seed,), daemon=True)
                   for seed in self.seed_of_thread]
        threads.append(threading.Thread(target=self._keeper, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=self.config["seconds"] + 30)
        return {"counts": dict(self.counts), "client_errors": self.client_errors[:SHOW_FINDINGS],
                "client_error_count": len(self.client_errors)}

    def _keeper(self):
        """Every KEEPER_PERIOD: restore the fuzz account's dash and devices, and refresh the token list
        (fuzzed app commands delete devices and refresh tokens)."""
        rng = random.Random(self.keeper_seed)
        while time.monotonic() < self.deadline:
            try:
                link = account(self.ports["tls"], FUZZ_EMAIL, source=_source(rng))
                try:
                    tokens = ensure_devices(link, FUZZ_DEVICES)
                finally:
                    link.close()
                if tokens:
                    self.tokens = tokens
                self.count("keeper rounds")
            except (OSError, TimeoutError, RuntimeError, ValueError) as error:
                self.count("keeper failures")
                self._client_error(f"keeper: {type(error).__name__}: {error}")
            time.sleep(KEEPER_PERIOD)

    def _client_error(self, text):
        with self.lock:
            self.client_errors.append(text)

    def _worker(self, seed):
        rng = random.Random(seed)
        plans = Plans(rng, self)
        while time.monotonic() < self.deadline:
            plan = plans.choose()
            try:
                plan()
            except Exception as error:                      # a bug in this tool, not in the server
                self.count("client errors")
                self._client_error(f"{plan.__name__}: {type(error).__name__}: {error}\n"
                                   + "".join(traceback.format_exc(limit=3)))


def _source(rng):
    """A random loopback source address other than 127.0.0.1 (Linux routes all of 127/8 locally)."""
    return f"127.{rng.randrange(1, 255)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


class Conn:
    """One fuzz connection: blocking socket with short timeouts; reading never waits long."""

    def __init__(self, fuzzer, port_kind, rng, tls):
        self.fuzzer = fuzzer
        self.closed = False
        sock = socket.socket()
        sock.settimeout(SOCKET_TIMEOUT)
        try:
            sock.bind((_source(rng), 0))
            sock.connect((HOST, fuzzer.ports[port_kind]))
        except OSError:
            sock.close()
            raise
        if tls:
            try:
                sock = tls_context().wrap_socket(sock)
            except OSError:
                sock.close()
                raise
        self.sock = sock
        self.received = bytearray()

    def send(self, data):
        if self.closed:
            return False
        try:
            self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            self.closed = True
            return False

    def drain(self, wait=0.02):
        """Read what has arrived within `wait` seconds (kept, at most 64 KiB)."""
        if self.closed:
            return b""
        self.sock.settimeout(wait)
        got = bytearray()
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self.closed = True
                    break
                got += data
                if len(got) > 65536:
                    break
                self.sock.settimeout(0.001)
        except (socket.timeout, ssl.SSLWantReadError, BlockingIOError):
            pass
        except (OSError, ssl.SSLError):
            self.closed = True
        self.received += got
        return bytes(got)

    def finish(self, rng):
        """Close in one of the ways a peer can: orderly, half-closed, or reset."""
        how = rng.random()
        try:
            if how < 0.2:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif how < 0.4 and not self.closed:
                self.sock.shutdown(socket.SHUT_WR)
                self.drain(0.05)
        except OSError:
            pass
        self.sock.close()


class Plans:
    """What one fuzz connection does. Each plan opens, talks, counts and closes."""

    def __init__(self, rng, fuzzer):
        self.rng = rng
        self.fuzzer = fuzzer
        self.hw_frames = Mutator(rng, every_command_frames(HARDWARE, hardware_bodies()))
        self.hw_bodies = _BodyWrap(HARDWARE, hardware_bodies(), rng)
        self.app_frames_ = Mutator(rng, every_command_frames(APP, app_bodies()))
        self.app_bodies = _BodyWrap(APP, app_bodies(), rng)
        self.dashws_frames = Mutator(rng, dashws_messages(app_bodies()))
        self.dashws_bodies = _DashWsBodyWrap(APP, app_bodies(), rng)
        self.hellos = Mutator(rng, client_hellos())
        self.random = Mutator(rng, [b""])
        self.http_tokens = None
        self.http = self.http_fields = None
        self.plans = [
            (self.hardware, 6), (self.app_frames, 6), (self.http_requests, 5), (self.websocket_hardware, 2),
            (self.websocket_app, 2), (self.raw_tls_port, 1), (self.garbage, 1), (self.slow_bytes, 1),
            (self.mqtt_packets, 3),
        ]
        self.mqtt_frames = Mutator(rng, mqtt_seeds())
        self.mqtt_publish = _MqttPublishWrap(self.hw_bodies, rng)
        self.weights = [w for _, w in self.plans]

    def choose(self):
        return self.rng.choices([p for p, _ in self.plans], self.weights)[0]

    def _open(self, port_kind, tls, what):
        try:
            conn = Conn(self.fuzzer, port_kind, self.rng, tls)
        except (OSError, ssl.SSLError) as error:
            if isinstance(error, ConnectionRefusedError):
                self.fuzzer.count("connections refused")
            else:
                self.fuzzer.count("connect or handshake failures")
            return None
        self.fuzzer.count(f"connections {port_kind}")
        self.fuzzer.count(f"plan {what}")
        return conn

    def _throw(self, conn, mutator, count, valid_every=0):
        """`count` mutated inputs, alone or several per write, with short reads between."""
        sent = 0
        batch = bytearray()
        for number in range(count):
            data = mutator.generate()
            if valid_every and number % valid_every == 0:
                data = self.rng.choice(mutator.seeds)
            batch += data
            sent += 1
            if self.rng.random() < 0.5 or number == count - 1:
                if not conn.send(bytes(batch)):
                    break
                batch.clear()
                if self.rng.random() < 0.3:
                    conn.drain(0.005)
        self.fuzzer.count("live inputs", sent)
        conn.drain(0.02)
        if conn.closed:
            self.fuzzer.count("closed by the server")
        return sent

    def hardware(self):
        rng = self.rng
        port_kind = rng.choice(("plain", "plain", "tls", "hwtls"))
        conn = self._open(port_kind, port_kind != "plain", "hardware")
        if conn is None:
            return
        if rng.random() < 0.6:
            token = rng.choice(self.fuzzer.tokens)
            conn.send(HARDWARE.message(Command.HARDWARE_LOGIN, 1, token.encode()))
            reply = conn.drain(0.2)
            if reply[:5] == HARDWARE.response(1, 200):
                self.fuzzer.count("logged in: hardware")
        mutator = self.hw_bodies if rng.random() < 0.5 else self.hw_frames
        self._throw(conn, mutator, rng.randrange(1, 60), valid_every=rng.choice((0, 3)))
        conn.finish(rng)

    def app_frames(self):
        rng = self.rng
        conn = self._open("tls", True, "app")
        if conn is None:
            return
        if rng.random() < 0.6:
            body = _join(FUZZ_EMAIL, password_hash(PASSWORD, FUZZ_EMAIL), "Android", "2.27.0", "Blynk")
            conn.send(APP.message(Command.LOGIN, 1, body))
            reply = conn.drain(0.3)
            if reply[:7] == APP.response(1, 200):
                self.fuzzer.count("logged in: app")
        mutator = self.app_bodies if rng.random() < 0.5 else self.app_frames_
        self._throw(conn, mutator, rng.randrange(1, 60), valid_every=rng.choice((0, 3)))
        conn.finish(rng)

    def http_requests(self):
        rng = self.rng
        tokens = tuple(self.fuzzer.tokens[:2])
        if tokens != self.http_tokens:
            self.http_tokens = tokens
            self.http = Mutator(rng, http_seeds(tokens or (FAKE_TOKEN,)))
            self.http_fields = _HttpWrap(tokens or (FAKE_TOKEN,), rng)
        port_kind = rng.choice(("plain", "tls", "tls", "hwtls"))
        conn = self._open(port_kind, port_kind != "plain", "http")
        if conn is None:
            return
        mutator = self.http_fields if rng.random() < 0.6 else self.http
        self._throw(conn, mutator, rng.randrange(1, 6), valid_every=2)
        conn.finish(rng)

    def _upgrade(self, path, port_kind):
        conn = self._open(port_kind, port_kind != "plain", f"websocket {path}")
        if conn is None:
            return None
        conn.send((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
        if not conn.drain(0.3).startswith(b"HTTP/1.1 101"):
            self.fuzzer.count("websocket upgrades refused")
            conn.finish(self.rng)
            return None
        return conn

    def websocket_hardware(self):
        rng = self.rng
        conn = self._upgrade("/websockets", rng.choice(("plain", "tls")))
        if conn is None:
            return
        if rng.random() < 0.6:
            token = rng.choice(self.fuzzer.tokens)
            conn.send(ws_frame(HARDWARE.message(Command.HARDWARE_LOGIN, 1, token.encode())))
            if conn.drain(0.2)[:7] == b"\x82\x05" + HARDWARE.response(1, 200):
                self.fuzzer.count("logged in: websocket hardware")
        inner = self.hw_bodies if rng.random() < 0.5 else self.hw_frames
        self._throw(conn, _WsWrap(inner, rng), rng.randrange(1, 40), valid_every=rng.choice((0, 3)))
        conn.finish(rng)

    def websocket_app(self):
        rng = self.rng
        conn = self._upgrade("/dashws", "tls")
        if conn is None:
            return
        if rng.random() < 0.6:
            body = _join(FUZZ_EMAIL, password_hash(PASSWORD, FUZZ_EMAIL), "Android", "2.27.0", "Blynk")
            conn.send(ws_frame(struct.pack(">BH", Command.LOGIN, 1) + body))
            if conn.drain(0.3)[:9] == b"\x82\x07" + APP.response(1, 200):
                self.fuzzer.count("logged in: websocket app")
        inner = self.dashws_bodies if rng.random() < 0.5 else self.dashws_frames
        self._throw(conn, _WsWrap(inner, rng), rng.randrange(1, 40), valid_every=rng.choice((0, 3)))
        conn.finish(rng)

    def mqtt_packets(self):
        rng = self.rng
        conn = self._open("mqtt", False, "mqtt")
        if conn is None:
            return
        if rng.random() < 0.6:
            conn.send(mqtt.connect("fuzz", FUZZ_EMAIL, rng.choice(self.fuzzer.tokens).encode()))
            if conn.drain(0.2)[:4] in (mqtt.connack(mqtt.ACCEPTED), mqtt.connack(mqtt.ACCEPTED, True)):
                self.fuzzer.count("logged in: mqtt")
        mutator = self.mqtt_publish if rng.random() < 0.5 else self.mqtt_frames
        self._throw(conn, mutator, rng.randrange(1, 60), valid_every=rng.choice((0, 3)))
        conn.finish(rng)

    def raw_tls_port(self):
        """Mutated ClientHellos (or a cut-off real one) on a TLS port, without a TLS client."""
        rng = self.rng
        port_kind = rng.choice(("tls", "hwtls"))
        conn = self._open(port_kind, False, "raw TLS port")
        if conn is None:
            return
        self._throw(conn, self.hellos, rng.randrange(1, 4))
        conn.finish(rng)

    def garbage(self):
        rng = self.rng
        port_kind = rng.choice(("plain", "tls", "hwtls"))
        conn = self._open(port_kind, port_kind != "plain" and rng.random() < 0.7, "random bytes")
        if conn is None:
            return
        self._throw(conn, self.random, rng.randrange(1, 20))
        conn.finish(rng)

    def slow_bytes(self):
        """A valid start, sent a few bytes at a time, then abandoned (the server must not wait forever)."""
        rng = self.rng
        port_kind = rng.choice(("plain", "tls", "hwtls"))
        conn = self._open(port_kind, port_kind != "plain", "slow bytes")
        if conn is None:
            return
        data = rng.choice(self.hw_frames.seeds + (self.http.seeds if self.http else []))
        for at in range(0, min(len(data) - 1, 12), 3):
            if not conn.send(data[at:at + 3]):
                break
            time.sleep(0.05)
        self.fuzzer.count("live inputs")
        conn.finish(rng)


class _BodyWrap:
    """A mutator whose inputs are well-framed Blynk messages with a mutated body (and now and then any
    command code below FIRST_INVALID), so the bytes get past the decoder into the handlers."""

    def __init__(self, framing, bodies, rng):
        self.framing = framing
        self.rng = rng
        self.commands = sorted(bodies)
        self.bodies = bodies
        self.seeds = every_command_frames(framing, bodies)
        self.mutator = Mutator(rng, [b for seeds in bodies.values() for b in seeds])
        self.max_body = HARDWARE_MAX_BODY if framing is HARDWARE else APP_MAX_BODY

    def generate(self):
        rng = self.rng
        command = rng.choice(self.commands) if rng.random() < 0.9 else rng.randrange(1, Command.FIRST_INVALID)
        seeds = self.bodies.get(command) or [b""]
        body = self.mutator.mutate(rng.choice(seeds)) if rng.random() < 0.9 else self.mutator.generate()
        return self.framing.message(command, rng.randrange(1, 0x10000), body[:self.max_body])


# REST routes as (method, path after the token, body seeds); "-" marks routes without a token.
HTTP_ROUTES = (
    ("GET", "/get/V1", None), ("GET", "/get/D13", None), ("GET", "/update/V1?value=42", None),
    ("GET", "/update/V3?value=1&value=2", None), ("PUT", "/update/V5", (b'["5"]', b'["a","b"]', b"[]")),
    ("PUT", "/pin/V6", (b'["1"]',)), ("PUT", "/extra/pin/V7", (b'[{"timestamp":1,"value":"2"}]',)),
    ("GET", "/isHardwareConnected", None), ("GET", "/isAppConnected", None), ("GET", "/project", None),
    ("GET", "/rtc", None), ("GET", "/qr", None), ("GET", "/clone", None), ("GET", "/data/V1", None),
    ("POST", "/notify", (b'{"body":"hello"}',)), ("POST", "/email", (b'{"to":"a@b.c","title":"t","subj":"s"}',)),
    ("GET", "-/csv/x.csv.gz", None), ("GET", "-/admin", None),
    ("POST", "-/admin/login", (b"email=admin%40blynk.cc&password=abc",)), ("GET", "-/admin/users", None),
    ("GET", "-/static/admin.css", None), ("GET", "-/", None), ("POST", "-/admin/upload", (b"\x00" * 16,)),
)


class _HttpWrap:
    """Well-framed requests for the REST routes and the admin page with a mutated path, query, header
    value or body (Content-Length always right), so the bytes get past the parser to the endpoints."""

    def __init__(self, tokens, rng):
        self.tokens = tokens
        self.rng = rng
        self.seeds = http_seeds(tokens)
        self.mutator = Mutator(rng, [r[1].encode() for r in HTTP_ROUTES] +
                               [b for r in HTTP_ROUTES if r[2] for b in r[2]])

    def generate(self):
        rng = self.rng
        method, path, bodies = rng.choice(HTTP_ROUTES)
        prefix, path = ("", path[1:]) if path.startswith("-") else (f"/{rng.choice(self.tokens)}", path)
        target = prefix + path
        body = rng.choice(bodies) if bodies else b""
        part = rng.random()
        if part < 0.4:
            target = prefix + _url_safe(self.mutator.mutate(path.encode()))
        elif part < 0.8 and body:
            body = self.mutator.mutate(body)
        elif part < 0.9:
            method = rng.choice(("GET", "PUT", "POST", "HEAD", "DELETE", "OPTIONS", "PATCH"))
        extra = ""
        if rng.random() < 0.2:
            extra = f"X-Fuzz: {_url_safe(self.mutator.generate())[:200]}\r\n"
        if rng.random() < 0.1:
            extra += "Authorization: Basic " + rng.choice(("YWRtaW46eA==", "Og==", "!!", "")) + "\r\n"
        head = (f"{method} {target or '/'} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{extra}\r\n")
        return head.encode("latin-1") + body


def _url_safe(data):
    """Bytes as a request target: printable ASCII kept, everything else %-escaped (the parser would
    refuse raw control bytes before any endpoint saw them)."""
    text = "".join(chr(b) if 0x21 <= b < 0x7F else f"%{b:02X}" for b in data)
    return text if text.startswith("/") else "/" + text


class _MqttPublishWrap:
    """PUBLISH packets to the `hardware` topic whose payload is a mutated device body, spaces for
    `\\0` as MQTT devices write them (spec/commands.md §7)."""

    def __init__(self, bodies, rng):
        self.bodies = bodies
        self.rng = rng
        self.seeds = mqtt_seeds()

    def generate(self):
        frame = self.bodies.generate()
        payload = frame[HARDWARE.header.size:].replace(b"\0", b" ")[:mqtt.MAX_PACKET_SIZE - 20]
        topic = self.rng.choice(("hardware", "hardware", "HARDWARE", "x", ""))
        return mqtt.publish(topic, payload, qos=self.rng.choice((0, 0, 1, 2)), packet_id=self.rng.randrange(65536))


class _DashWsBodyWrap(_BodyWrap):
    """The same for /dashws messages (`command msgId body`, no length)."""

    def __init__(self, framing, bodies, rng):
        super().__init__(framing, bodies, rng)
        self.seeds = dashws_messages(bodies)

    def generate(self):
        frame = super().generate()
        return frame[:3] + frame[APP_HEADER.size:]


class _WsWrap:
    """A mutator whose inputs are websocket frames: a mutated Blynk message inside a valid frame, or
    the whole frame mutated."""

    def __init__(self, inner, rng):
        self.inner = inner
        self.rng = rng
        self.seeds = [ws_frame(s) for s in inner.seeds]
        self.outer = Mutator(rng, self.seeds)

    def generate(self):
        if self.rng.random() < 0.6:
            return ws_frame(self.inner.generate(), mask=self.rng.randbytes(4))
        return self.outer.generate()


def worker_main(config_text):
    """The fuzz load's process: run, then print the counts as one JSON line."""
    result = LiveFuzzer(json.loads(config_text)).run()
    print(json.dumps(result), flush=True)


def live_phase(seconds, seed, connections, findings, workdir=None):
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="blynklite-fuzz-")
    else:
        os.makedirs(workdir, exist_ok=True)
    server = Server(workdir)
    figures = {"workdir": workdir}
    try:
        server.start()
        figures["rss_start_kb"] = server.rss_kb()
        link = account(server.app_port, BYSTANDER_EMAIL)
        bystander_token = ensure_devices(link, 1)[0]
        link.close()
        link = account(server.app_port, FUZZ_EMAIL)
        tokens = ensure_devices(link, FUZZ_DEVICES)
        link.close()
        account(server.app_port, VICTIM_EMAIL).close()
        bystander = Bystander(server, bystander_token)
        config = {"hw_port": server.hw_port, "app_port": server.app_port, "hw_ssl_port": server.hw_ssl_port,
                  "mqtt_port": server.mqtt_port,
                  "tokens": tokens, "seconds": seconds, "seed": seed, "connections": connections}
        bystander.start(QUIET_SECONDS + seconds)
        time.sleep(QUIET_SECONDS)
        fuzz_from = time.monotonic()
        worker = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--live-worker", json.dumps(config)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = 0
        while worker.poll() is None and server.process.poll() is None:
            peak = max(peak, server.rss_kb() or 0)
            time.sleep(0.5)
        try:
            out, err = worker.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            worker.kill()
            out, err = worker.communicate()
        bystander.join()
        figures["rss_peak_kb"] = max(peak, server.rss_kb() or 0)
        figures["rss_end_kb"] = server.rss_kb()
        figures["bystander"] = bystander.figures(fuzz_from)
        figures["bystander_disconnects"] = list(bystander.disconnects)
        figures["bystander_unexpected"] = dict(bystander.unexpected)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        figures["load"] = json.loads(lines[-1]) if lines else {"counts": {}, "client_errors": [err[-2000:]],
                                                               "client_error_count": 1}
        figures["server_alive"] = server.process.poll() is None
    finally:
        figures["exit_status"] = server.stop()
        log, output = server.texts()
        # errors after start are echoed to stderr as well: a traceback in both counts once
        blocks = dict.fromkeys(traceback_blocks(log) + traceback_blocks(output))
        figures["tracebacks"] = len(blocks)
        figures["log_levels"] = dict(collections.Counter(m.group(1) for m in LOG_LEVEL_LINE.finditer(log)))
        figures["log_bytes"] = len(log)
        for block in blocks:
            kind = traceback_kind(block)
            # one fault: the same innermost blynklite frame and exception type, whichever handler
            findings.add("server tracebacks", kind, key=tuple(line.split(":")[0] for line in kind.splitlines()[1:]))
        for line in log.splitlines():
            if " ERROR " in line:
                findings.add("server ERROR lines", _log_kind(line))
    return figures


def _log_kind(line):
    """A log line without its time and source address, so repeats of one fault group together."""
    line = re.sub(r"^[\d-]+ [\d:,]+ ", "", line)
    line = re.sub(r"\.\d+-\d+\.tmp\b", ".<n>.tmp", line)          # atomicfile's temp name counter
    return re.sub(r"\b127\.\d+\.\d+\.\d+\b", "<address>", line)[:300]


def traceback_kind(block):
    """The log line before a traceback (without its time), its innermost blynklite frame and the
    exception: enough to find the fault, and the same for every occurrence of it."""
    lines = block.splitlines()
    message = _log_kind(lines[0]) if not TRACEBACK.match(lines[0]) else ""
    frames = [line.strip() for line in lines if line.strip().startswith("File ") and "blynklite" in line]
    return "\n    ".join(part for part in (message, frames[-1] if frames else "", lines[-1].strip()) if part)


def traceback_blocks(text):
    """Each traceback in `text` with the log line before it and the exception line after it."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if TRACEBACK.match(line):
            end = number + 1
            while end < len(lines) and lines[end][:1] in (" ", "\t"):
                end += 1
            blocks.append("\n".join(lines[max(0, number - 1):end + 1]))
    return blocks


# ==================================================================================================
# The report
# ==================================================================================================
def report(args, codec_rows, live, findings):
    print()
    print(f"## blynklite fuzz: seed {args.seed}")
    print()
    print("| figure | value | must be |")
    print("|---|---|---|")
    bad = []

    def row(name, value, must=None):
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        print(f"| {name} | {shown} | {'' if must is None else must} |")
        if must is not None and value != must:
            bad.append(name)

    if codec_rows is not None:
        total = 0
        for name, tried, seconds, slowest, refused, decoded in codec_rows:
            row(f"codec {name}: inputs; refused; messages decoded (s, slowest input ms)",
                f"{tried:,}; {refused:,}; {decoded:,} ({seconds:.1f} s, {slowest * 1000:.1f})")
            total += tried
        row("codec inputs in all", f"{total:,}")
        row("codec unexpected exceptions", findings.counts["unexpected exceptions"], 0)
        row("codec hangs", findings.counts["hangs"], 0)
        row("codec chunking disagreements", findings.counts["chunking disagreements"], 0)
    if live is not None:
        counts = live.get("load", {}).get("counts", {})
        row("live seconds / fuzz connections at once", f"{args.seconds} / {args.connections}")
        row("live connections plain / TLS shared / TLS hardware / MQTT",
            " / ".join(f"{counts.get('connections ' + k, 0):,}" for k in ("plain", "tls", "hwtls", "mqtt")))
        row("live inputs (frames, requests, ws frames, hellos, random)", f"{counts.get('live inputs', 0):,}")
        plans = sorted((k[5:], v) for k, v in counts.items() if k.startswith("plan "))
        row("live connections by plan", ", ".join(f"{name} {n:,}" for name, n in plans))
        row("live logged in first: hardware / app / ws hardware / ws app / mqtt", " / ".join(
            f"{counts.get('logged in: ' + k, 0):,}"
            for k in ("hardware", "app", "websocket hardware", "websocket app", "mqtt")))
        row("live connections closed by the server", f"{counts.get('closed by the server', 0):,}")
        row("live connect refused", counts.get("connections refused", 0), 0)
        row("live connect or TLS handshake failures", f"{counts.get('connect or handshake failures', 0):,}")
        row("live tool errors (bugs in this tool)", live.get("load", {}).get("client_error_count", 0), 0)
        by = live.get("bystander", {})
        for direction in ("device->app", "app->device"):
            fig = by.get(direction)
            if fig:
                row(f"bystander {direction}: sent / delivered", f"{fig['sent']:,} / {fig['delivered']:,}")
                row(f"bystander {direction}: lost", fig["lost"], 0)
                row(f"bystander {direction}: latency p50 / p99 ms, first {QUIET_SECONDS:g} s alone",
                    f"{fig['quiet_p50_ms']:.2f} / {fig['quiet_p99_ms']:.2f}")
                row(f"bystander {direction}: latency p50 / p99 / max ms under fuzzing",
                    f"{fig['p50_ms']:.2f} / {fig['p99_ms']:.2f} / {fig['max_ms']:.1f}")
        row("bystander disconnects", len(live.get("bystander_disconnects", [])), 0)
        row("bystander unexpected messages", sum(live.get("bystander_unexpected", {}).values()), 0)
        row("server up at the end", live.get("server_alive", False), True)
        row("server exit status after SIGTERM", live.get("exit_status"), 0)
        rss = [live.get(k) for k in ("rss_start_kb", "rss_peak_kb", "rss_end_kb")]
        row("server RSS start / peak / end MB", " / ".join(f"{(v or 0) / 1024:.1f}" for v in rss))
        levels = live.get("log_levels", {})
        row("server log: bytes; WARNING / ERROR lines",
            f"{live.get('log_bytes', 0):,}; {levels.get('WARNING', 0) + levels.get('WARN', 0):,} / "
            f"{levels.get('ERROR', 0) + levels.get('CRITICAL', 0):,}")
        row("server log tracebacks", live.get("tracebacks", 0), 0)
    print()
    findings.report()
    if live is not None:
        for text in live.get("bystander_disconnects", []):
            print(f"bystander disconnect: {text}")
        for text, n in live.get("bystander_unexpected", {}).items():
            print(f"bystander unexpected: {text} x{n}")
        for text in live.get("load", {}).get("client_errors", []):
            print(f"tool error: {text}")
        print(f"server work folder (kept when a must-be figure fails or the log has ERROR lines): "
              f"{live.get('workdir')}")
    print(f"command: python3 tools/fuzz.py {' '.join(sys.argv[1:])}")
    if bad:
        print(f"FAILED: {', '.join(bad)}")
    else:
        print("OK: every must-be figure holds")
    return bad


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (default: random, printed)")
    parser.add_argument("--inputs", type=int, default=DEFAULT_INPUTS, help="in-process inputs across codecs")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="length of the live phase")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS,
                        help="concurrent fuzz connections in the live phase")
    parser.add_argument("--only", choices=("codecs", "live"), default=None)
    parser.add_argument("--codecs", default=None,
                        help="comma-separated codec names to fuzz (default: all): " +
                        ", ".join(codec.name for codec in codecs()))
    parser.add_argument("--workdir", default=None,
                        help="the live server's work folder, kept (default: a temp folder, removed when all is well)")
    parser.add_argument("--live-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.live_worker:
        worker_main(args.live_worker)
        return 0
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    print(f"seed {args.seed} (replay with --seed {args.seed})", flush=True)
    findings = Findings()
    codec_rows = live = None
    if args.only in (None, "codecs"):
        print(f"codecs: {args.inputs:,} inputs", flush=True)
        names = None
        if args.codecs:
            names = {name.strip() for name in args.codecs.split(",")}
            unknown = names - {codec.name for codec in codecs()}
            if unknown:
                parser.error(f"unknown codec(s): {', '.join(sorted(unknown))}")
        codec_rows = codec_phase(args.inputs, args.seed, findings, names)
    if args.only in (None, "live"):
        print(f"live: {args.seconds:g} s against a real server on {HOST}", flush=True)
        live = live_phase(args.seconds, args.seed, args.connections, findings, args.workdir)
    bad = report(args, codec_rows, live, findings)
    errors = live and live.get("log_levels", {}).get("ERROR", 0)
    if live is not None and not bad and not errors and not args.workdir:
        shutil.rmtree(live["workdir"], ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
