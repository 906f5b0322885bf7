"""The REST API on both ports against the real server (spec/http-api.md §1–3): statuses, bodies and
error strings, writes reaching devices and apps with message id 111, keep-alive and pipelining,
and bad requests answered without disturbing anyone else."""
import http.client
import json
import socket
import ssl
import time

import pytest

from blynklite.codec.commands import Command, Status
from devices import PASSWORD, WAIT, app_barrier, app_messages, device, new_account, open_app

JSON_TYPE = "application/json;charset=utf-8"
TEXT_TYPE = "text/plain;charset=utf-8"


@pytest.fixture
def project(server):
    """An account with an active project and one device; the app stays logged in."""
    email = new_account(server)
    app = open_app(server, email)
    dash_id, device_id, token = app.new_device("Kitchen")
    app_barrier(app)
    yield {"server": server, "app": app, "token": token, "dash": dash_id, "device": device_id}
    app.close()


def connect(server, secure=False):
    if secure:
        context = ssl.create_default_context(cafile=server.cafile)
        context.check_hostname = False
        return http.client.HTTPSConnection(server.host, server.app_port, timeout=WAIT, context=context)
    return http.client.HTTPConnection(server.host, server.hw_port, timeout=WAIT)


def call(server, method, path, body=None, headers=None, secure=False):
    conn = connect(server, secure)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode(), response
    finally:
        conn.close()


def put_json(server, path, value, secure=False):
    body = value if isinstance(value, str) else json.dumps(value)
    return call(server, "PUT", path, body, {"Content-Type": "application/json"}, secure)


# -- reading and writing pins ----------------------------------------------------------------------

@pytest.mark.parametrize("secure", [False, True], ids=["http-8080", "https-9443"])
def test_update_then_get_returns_the_value(project, secure):
    server, token = project["server"], project["token"]
    status, content_type, body, _ = call(server, "GET", f"/{token}/update/V1?value=42", secure=secure)
    assert (status, content_type, body) == (200, None, "")
    assert call(server, "GET", f"/{token}/get/V1", secure=secure)[:3] == (200, JSON_TYPE, '["42"]')


def test_a_write_reaches_the_device_and_the_app_with_message_id_111(project):
    server, token, app = project["server"], project["token"], project["app"]
    with device(server) as hw:
        assert hw.login(token) == Status.OK
        hw.receive_all()
        app_barrier(app)
        assert call(server, "GET", f"/{token}/update/V7?value=on")[0] == 200
        assert hw.receive() == (Command.HARDWARE, 111, b"vw\x007\x00on")
        forwarded = app_messages(app, Command.HARDWARE)
        assert forwarded == [(Command.HARDWARE, 111, f"{project['dash']}-{project['device']}\0vw\x007\x00on".encode())]


def test_repeated_values_and_json_arrays_are_joined_and_split_back(project):
    server, token = project["server"], project["token"]
    assert call(server, "GET", f"/{token}/update/V2?value=1&value=2")[0] == 200
    assert call(server, "GET", f"/{token}/get/V2")[2] == '["1","2"]'
    assert put_json(server, f"/{token}/update/V3", ["100", "101", "102"])[0] == 200
    assert call(server, "GET", f"/{token}/get/V3")[2] == '["100","101","102"]'
    assert put_json(server, f"/{token}/pin/v4", ["7"])[0] == 200
    assert call(server, "GET", f"/{token}/get/V4")[2] == '["7"]'


def test_extra_pin_takes_the_first_point_as_the_current_value(project):
    server, token = project["server"], project["token"]
    points = [{"timestamp": 123, "value": "100"}, {"timestamp": 124, "value": "101"}]
    assert put_json(server, f"/{token}/extra/pin/V9", points)[0] == 200
    assert call(server, "GET", f"/{token}/get/V9")[2] == '["100"]'


@pytest.mark.parametrize("method, path, body, expected", [
    ("GET", "/{bad}/get/V1", None, (400, "Invalid token.")),
    ("GET", "/{token}/get/x8", None, (400, "Wrong pin format.")),
    ("GET", "/{token}/get/v256", None, (400, "Wrong pin format.")),
    ("GET", "/{token}/get/V200", None, (400, "Requested pin doesn't exist in the app.")),
    ("GET", "/{token}/update/V1", None, (400, "Wrong request format.")),
    ("PUT", "/{token}/update/V1", "[]", (400, "No pin for update provided.")),
    ("PUT", "/{token}/update/V1", '"100"', (500, 'Error parsing body param. "100"')),
    ("PUT", "/{token}/update/V1", "", (500, "Error parsing body param. ")),
    ("PUT", "/{bad}/update/V1", '"100"', (500, 'Error parsing body param. "100"')),
    ("GET", "/{token}/rtc", None, (400, "Requested rtc not exists in app.")),
    ("GET", "/{token}/update/V1?label=x", None, (400, "No widget for SetWidgetProperty command.")),
], ids=["bad token", "pin letter", "pin number", "no such pin", "no value", "empty array",
        "not an array", "empty body", "body checked before token", "no rtc", "property without widget"])
def test_errors_are_upstreams_words(project, method, path, body, expected):
    server = project["server"]
    path = path.format(token=project["token"], bad="x" * 32)
    headers = {"Content-Type": "application/json"} if method == "PUT" else {}
    status, content_type, text, _ = call(server, method, path, body, headers)
    assert (status, text) == expected
    assert content_type == TEXT_TYPE


def test_put_without_json_content_type_is_refused(project):
    status, _, text, _ = call(project["server"], "PUT", f"/{project['token']}/update/V1", '["1"]',
                              {"Content-Type": "text/plain"})
    assert (status, text) == (500, "Unexpected content type. Expecting application/json.")


# -- status endpoints ------------------------------------------------------------------------------

def test_is_hardware_connected_follows_the_device(project):
    server, token = project["server"], project["token"]
    assert call(server, "GET", f"/{token}/isHardwareConnected")[2] == "false"
    with device(server) as hw:
        assert hw.login(token) == Status.OK
        assert call(server, "GET", f"/{token}/isHardwareConnected")[:3] == (200, JSON_TYPE, "true")


def test_is_app_connected_needs_an_app_and_an_active_project(project):
    server, token, app = project["server"], project["token"], project["app"]
    assert call(server, "GET", f"/{token}/isAppConnected")[2] == "true"
    assert app.request(Command.DEACTIVATE_DASHBOARD, str(project["dash"]))[2] == Status.OK
    assert call(server, "GET", f"/{token}/isAppConnected")[2] == "false"


def test_project_is_the_dashboard_without_tokens(project):
    status, content_type, text, _ = call(project["server"], "GET", f"/{project['token']}/project")
    assert (status, content_type) == (200, JSON_TYPE)
    dash = json.loads(text)
    assert dash["id"] == project["dash"] and dash["devices"][0]["name"] == "Kitchen"
    assert project["token"] not in text and "pinsStorage" not in dash


def test_widget_property_goes_to_apps_with_message_id_111(project):
    server, token, app = project["server"], project["token"], project["app"]
    widget = {"id": 5, "type": "BUTTON", "pinType": "VIRTUAL", "pin": 10, "deviceId": project["device"],
              "x": 0, "y": 0, "width": 2, "height": 2}
    assert app.request(Command.CREATE_WIDGET, f"{project['dash']}\0{json.dumps(widget)}")[2] == Status.OK
    app_barrier(app)
    assert call(server, "GET", f"/{token}/update/V10?label=Lamp")[:3] == (200, None, "")
    body = f"{project['dash']}-{project['device']}\x0010\x00label\x00Lamp".encode()
    assert app_messages(app, Command.SET_WIDGET_PROPERTY) == [(Command.SET_WIDGET_PROPERTY, 111, body)]
    assert call(server, "GET", f"/{token}/update/V10?value=1")[0] == 200
    assert call(server, "GET", f"/{token}/get/V10")[2] == '["1"]'


# -- HTTP itself ------------------------------------------------------------------------------------

def test_root_redirects_and_unknown_paths_are_404(server):
    status, _, _, response = call(server, "GET", "/")      # the local page (tests/test_pi_web.py)
    assert (status, response.getheader("Content-Type")) == (200, "text/html;charset=utf-8")
    status, _, _, response = call(server, "GET", "/", secure=True)
    assert (status, response.getheader("Location")) == (301, "/admin")
    assert call(server, "GET", "/no/such/thing")[:3] == (404, None, "")


def test_api_answers_carry_cors_and_keep_alive(project):
    conn = connect(project["server"])
    try:
        for _ in range(3):   # three requests over one connection
            conn.request("GET", f"/{project['token']}/isHardwareConnected")
            response = conn.getresponse()
            assert response.read() == b"false"
            assert response.getheader("Access-Control-Allow-Origin") == "*"
            assert response.getheader("Connection").lower() == "keep-alive"
    finally:
        conn.close()


def test_pipelined_requests_are_answered_in_order(project):
    token = project["token"]
    requests = b"".join(f"GET /{token}/update/V{n}?value={n} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                        for n in range(20, 25))
    requests += f"GET /{token}/get/V24 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection((project["server"].host, project["server"].hw_port), timeout=WAIT) as s:
        s.sendall(requests)
        received = read_until_closed(s)
    assert received.count(b"HTTP/1.1 200 OK") == 6
    assert received.endswith(b'["24"]')


def read_until_closed(sock):
    data = b""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"connection not closed; got {data[:200]!r}")


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"PUT /t/update/V1 HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 600000\r\n\r\n", 413),
    (b"GET /x HTTP/9.9\r\n\r\n", 505),
    (b"GET /x\r\n\r\n", 400),
], ids=["huge header", "huge body", "unknown version", "no version"])
def test_oversized_or_broken_requests_get_an_error_and_a_close(project, request_bytes, status):
    server = project["server"]
    with socket.create_connection((server.host, server.hw_port), timeout=WAIT) as s:
        s.sendall(request_bytes)
        answer = read_until_closed(s)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:100]
    # The server and other clients are fine afterwards.
    assert call(server, "GET", f"/{project['token']}/isHardwareConnected")[2] == "false"


def test_a_truncated_request_disturbs_nobody(project):
    server, token = project["server"], project["token"]
    with device(server) as hw:
        assert hw.login(token) == Status.OK
        hw.receive_all()
        half = socket.create_connection((server.host, server.hw_port), timeout=WAIT)
        half.sendall(b"PUT /x/update/V1 HTTP/1.1\r\nContent-Length: 100\r\n\r\n[\"1")
        assert call(server, "GET", f"/{token}/update/V1?value=5")[0] == 200
        assert hw.receive() == (Command.HARDWARE, 111, b"vw\x001\x005")
        half.close()
        assert hw.is_open()


@pytest.mark.parametrize("path", ["/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py",
                                  "/static/./admin.html", "/static//etc/passwd"])
def test_static_files_never_leave_the_static_folder(server, path):
    assert call(server, "GET", path)[0] == 404


def test_tokens_are_not_written_to_the_log(project):
    server, token = project["server"], project["token"]
    assert call(server, "GET", f"/{token}/update/V1?value=1")[0] == 200
    assert call(server, "GET", f"/{'y' * 32}/get/V1")[0] == 400
    assert token not in server.log_text().replace(f"token: {token}", "")


def test_qr_code_links_to_a_clone_of_the_project(project):
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image
    import io
    import urllib.parse
    server = project["server"]
    conn = connect(server)
    conn.request("GET", f"/{project['token']}/qr")
    response = conn.getresponse()
    png = response.read()
    conn.close()
    assert (response.status, response.getheader("Content-Type")) == (200, "image/png")
    link = urllib.parse.urlparse(zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))[0].text)
    assert (link.scheme, link.netloc) == ("blynk", "token")
    assert urllib.parse.parse_qs(link.query) == {"server": ["127.0.0.1"], "port": [str(server.app_port)]}
    code = link.path.rsplit("/", 1)[1]
    status, content_type, text, _ = call(server, "GET", f"/{code}/clone")
    assert (status, content_type) == (200, JSON_TYPE)
    assert json.loads(text) == json.loads(call(server, "GET", f"/{project['token']}/project")[2])
    assert call(server, "GET", f"/{'z' * 32}/clone")[:3] == (500, TEXT_TYPE, "Requested QR not found.")
