"""WebHooks (spec/behaviours.md §8): a real blynklib device or an app writes, the server calls a real
local HTTP(S) server from its worker pool, and the answer goes back to the device. Denied networks,
the frequency quota, the failure limit, a hanging target and an endless answer."""
import socket
import threading
import time
import urllib.request

import pytest

from automation_support import WAIT, LibDevice, Project, make
from blynklite.automation.webhooks import format_placeholders, iso_instant
from blynklite.codec.commands import Status

pytest.importorskip("cryptography")
from notify.peers import Recorder as PostRecorder, SilentServer, TestCA, _RecordingHandler  # noqa: E402


class _AnyMethodHandler(_RecordingHandler):
    do_GET = do_PUT = do_DELETE = _RecordingHandler.do_POST


class Recorder(PostRecorder):
    """The notification tests' recording HTTP server, answering every webhook method."""

    def __init__(self):
        super().__init__()
        self.RequestHandlerClass = _AnyMethodHandler

ALLOW_ALL = {"webhooks_deny_networks": ""}


def webhook(url, pin=7, **fields):
    return dict({"type": "WEBHOOK", "id": 40, "x": 0, "y": 0, "width": 1, "height": 1, "deviceId": 0,
                 "pinType": "VIRTUAL", "pin": pin, "url": url}, **fields)


def no_request(recorder, seconds=1.0):
    time.sleep(seconds)
    return recorder.all() == []


def failures(server):
    hooks = server.server.automation.webhooks
    return server.call(lambda: sum(count for _, count in hooks._failures.values()))


def test_a_device_write_calls_the_url_with_placeholders_and_the_answer_reaches_the_device(make):
    server = make(**ALLOW_ALL)
    with Recorder() as recorder:
        recorder.reply("/hook", 200, b"ok-42", "text/plain")
        url = recorder.url + "/hook?v=/pin/&when=/datetime_iso/&who=device_owner_email"
        project = Project(server, [webhook(url)])
        device = LibDevice(server, project.tokens[0])
        try:
            assert device.connected()
            device.virtual_write(7, 21.5)
            request = recorder.next()
            assert request.method == "GET"
            path, _, query = request.path.partition("?")
            fields = dict(part.split("=", 1) for part in query.split("&"))
            assert path == "/hook" and fields["v"] == "21.5" and fields["who"] == project.email
            assert fields["when"].endswith("Z") and fields["when"][:2] == "20"
            assert device.next_write() == (7, ["ok-42"])
        finally:
            device.close()
            project.close()


def test_an_app_write_posts_the_body_over_https_with_the_widget_headers(make, tmp_path, monkeypatch):
    ca = TestCA(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", ca.cafile)        # the server trusts the test CA like a LAN CA
    server = make(**ALLOW_ALL)
    with Recorder() as recorder:
        recorder.socket = ca.server_context().wrap_socket(recorder.socket, server_side=True)
        url = recorder.url.replace("http:", "https:") + "/api/states"
        widget = webhook(url, pin=8, method="POST", body='{"state":"/pin[0]/","brightness":"/pin[1]/"}',
                         headers=[{"name": "Content-Type", "value": "application/json"},
                                  {"name": "Authorization", "value": "Bearer secret"}])
        project = Project(server, [widget])
        try:
            project.app.write(1, 0, "V8", ["on", "80"])
            request = recorder.next()
            assert (request.method, request.path) == ("POST", "/api/states")
            assert request.json() == {"state": "on", "brightness": "80"}
            assert request.headers["Authorization"] == "Bearer secret"
            # HTTP API writes do not call webhooks, as upstream
            token = project.tokens[0]
            urllib.request.urlopen(f"http://127.0.0.1:{server.hw_port}/{token}/update/V8?value=x", timeout=WAIT)
            assert no_request(recorder)
        finally:
            project.close()


def test_loopback_is_denied_by_default_and_counts_as_a_failure(make):
    server = make()
    with Recorder() as recorder:
        project = Project(server, [webhook(recorder.url + "/hook")])
        try:
            project.app.write(1, 0, "V7", "1")
            assert no_request(recorder)
            assert failures(server) == 1
        finally:
            project.close()


def test_frequency_quota_and_failure_limit(make):
    server = make(webhooks_deny_networks="", webhooks_failure_count_limit=2)
    with Recorder() as recorder:
        recorder.reply("/hook", 500, b"nope", "text/plain")
        project = Project(server, [webhook(recorder.url + "/hook")])
        try:
            project.app.write(1, 0, "V7", "1")
            project.app.write(1, 0, "V7", "2")           # within 1000 ms of the first: skipped
            assert recorder.next().path == "/hook"
            assert no_request(recorder, 1.2)
            project.app.write(1, 0, "V7", "3")           # second failure
            assert recorder.next().path == "/hook"
            time.sleep(1.2)
            project.app.write(1, 0, "V7", "4")           # the limit is reached: not called any more
            assert no_request(recorder)
            assert failures(server) == 2
        finally:
            project.close()


def misbehaving_server(head, chunk, pause):
    """Accepts one request, answers `head`, then sends `chunk` every `pause` seconds for as long as
    the client reads. Returns its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve():
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                try:
                    conn.sendall(head)
                    while True:
                        conn.sendall(chunk)
                        if pause:
                            time.sleep(pause)
                except OSError:
                    pass
    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def endless_server():
    """Answers 200 and then streams bytes for as long as the client reads."""
    return misbehaving_server(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", b"x" * 65536, 0)


def dripping_server():
    """Answers a status line, then one header byte every 0.2 s, forever."""
    return misbehaving_server(b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a", 0.2)


def test_a_hanging_target_and_an_endless_answer_are_cut_off_and_the_server_stays_responsive(make):
    server = make(webhooks_deny_networks="", webhooks_timeout=800, webhooks_frequency_user_quota_limit=0,
                  webhooks_response_size_limit=1)
    with SilentServer() as silent:
        project = Project(server, [webhook(f"http://127.0.0.1:{silent.port}/hang"),
                                   webhook(f"http://127.0.0.1:{endless_server()}/big", pin=9, id=41, y=1),
                                   webhook(f"http://127.0.0.1:{dripping_server()}/drip", pin=11, id=42, y=2)])
        device = LibDevice(server, project.tokens[0])
        try:
            assert device.connected()
            started = time.monotonic()
            project.app.write(1, 0, "V7", "1")
            project.app.write(1, 0, "V9", "1")
            project.app.write(1, 0, "V11", "1")
            assert project.app.request(0x06)[2] == Status.OK        # PING answered while they run
            assert time.monotonic() - started < 0.5
            deadline = time.monotonic() + WAIT
            while failures(server) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert failures(server) == 3
            assert time.monotonic() - started < 3
            seen = []
            while (write := device.next_write(0.3)) is not None:
                seen.append(write)
            assert all(values == ["1"] for _, values in seen)       # the app's writes, no answer body
        finally:
            device.close()
            project.close()


def test_placeholders_as_upstream():
    assert format_placeholders("/pin/ /pin/", "5", "a@b.c", "T") == "5 /pin/"
    assert format_placeholders("/pin[0]/-/pin[1]/-/pin[2]/", "a\0b", "a@b.c", "T") == "a-b-/pin[2]/"
    assert format_placeholders("%s at /datetime_iso/ by device_owner_email", "7", "me@x.y", "NOW") \
        == "7 at NOW by me@x.y"
    assert iso_instant(1_700_000_000_000) == "2023-11-14T22:13:20Z"
    assert iso_instant(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
