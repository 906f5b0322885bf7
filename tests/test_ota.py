"""OTA firmware updates end to end (spec/behaviours.md §7, http-api.md §4.3): a firmware file with an
embedded build is uploaded over HTTPS with Basic auth, a device reports an older build, receives
`ota\\0<url>` and downloads the very same bytes over plain HTTP; plus the admin answers and refusals."""
import base64
import http.client
import os
import socket
import ssl
import time
import urllib.parse

import pytest

from blynklite.codec.commands import Command, Status

from devices import WAIT, app_barrier, body, device, new_account, open_app

ADMIN_EMAIL, ADMIN_PASS = "admin@blynk.cc", "admin-test-pass"
BUILD = "Dec  3 2026 10:00:00"


def firmware(build=BUILD, size=200_000):
    """A fake image as the Blynk libraries lay it out: code bytes with `\\0build\\0<date>\\0` inside."""
    data = bytearray(os.urandom(size))
    data[size // 2:size // 2] = b"\0build\0" + build.encode() + b"\0"
    return bytes(data)


def multipart(filename, data, boundary="----blynkliteTestBoundary"):
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"upfile\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def admin_request(server, method, path, body=None, headers=None, auth=(ADMIN_EMAIL, ADMIN_PASS)):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(server.host, server.app_port, timeout=WAIT, context=context)
    headers = dict(headers or {})
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def answer_to_head(server, path, length):
    """The status answered to a multipart POST head announcing `length` bytes, none of them sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(server.host, server.app_port, timeout=WAIT, context=context)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def upload(server, query="", filename="firmware.bin", data=None, auth=(ADMIN_EMAIL, ADMIN_PASS)):
    payload, content_type = multipart(filename, firmware() if data is None else data)
    path = "/admin/ota/start" + (("?" + urllib.parse.urlencode(query)) if query else "")
    return admin_request(server, "POST", path, payload, {"Content-Type": content_type}, auth)


def download(server, url):
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=WAIT)
    try:
        conn.request("GET", parsed.path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


@pytest.fixture
def account(server):
    email = new_account(server)
    app = open_app(server, email)
    dash_id, device_id, token = app.new_device("Board")
    app_barrier(app)
    yield server, email, app, token
    app.close()


def logged_in_device(server, token):
    dev = device(server)
    assert dev.login(token) == Status.OK
    return dev


def report_build(dev, build, msg_id=2):
    dev.send(Command.BLYNK_INTERNAL, body("ver", "0.6.1", "h-beat", 10, "buff-in", 1024, "dev", "ESP8266",
                                          "build", build), msg_id=msg_id)
    assert dev.receive() == (Command.RESPONSE, msg_id, Status.OK)


def ota_messages(dev):
    return [m for m in dev.receive_all() if m[0] == Command.BLYNK_INTERNAL and m[1] == 7777]


def test_pending_ota_for_all_reaches_a_device_with_another_build_which_downloads_the_same_bytes(account):
    server, email, app, token = account
    image = firmware()
    status, path = upload(server, data=image)
    assert status == 200 and path.startswith(b"/static/ota/upload") and path.endswith(b".bin")
    with logged_in_device(server, token) as dev:
        report_build(dev, "Jan  1 2026 00:00:00")
        [(command, msg_id, payload)] = ota_messages(dev)
        word, url = payload.decode().split("\0")
        assert word == "ota" and url == f"http://127.0.0.1:{server.hw_port}{path.decode()}"
        assert download(server, url) == (200, "application/octet-stream", image)
    profile = app.load_profile()
    ota_info = profile["dashBoards"][0]["devices"][0]["deviceOtaInfo"]
    assert ota_info["otaInitiatedBy"] == ADMIN_EMAIL and ota_info["otaUpdateAt"] >= ota_info["otaInitiatedAt"]


def test_a_device_already_on_the_build_or_without_one_is_left_alone(account):
    server, email, app, token = account
    assert upload(server)[0] == 200
    with logged_in_device(server, token) as dev:
        report_build(dev, BUILD)
        dev.send(Command.BLYNK_INTERNAL, body("ver", "0.6.1", "h-beat", 10), msg_id=3)
        assert dev.receive() == (Command.RESPONSE, 3, Status.OK)
        assert ota_messages(dev) == []


def test_stop_clears_pending_updates(account):
    server, email, app, token = account
    assert upload(server)[0] == 200
    assert admin_request(server, "GET", "/admin/ota/stop")[0] == 200
    with logged_in_device(server, token) as dev:
        report_build(dev, "old")
        assert ota_messages(dev) == []


def test_per_user_ota_needs_the_project_name(account):
    server, email, app, token = account
    assert upload(server, {"user": email, "appName": "Blynk", "project": "other project"})[0] == 200
    with logged_in_device(server, token) as dev:
        report_build(dev, "old")
        assert ota_messages(dev) == []
    dash_name = app.load_profile()["dashBoards"][0]["name"]
    assert upload(server, {"user": email, "appName": "Blynk", "project": dash_name.upper()})[0] == 200
    with logged_in_device(server, token) as dev:
        report_build(dev, "old")
        assert len(ota_messages(dev)) == 1
    assert upload(server, {"user": "nobody@example.com", "appName": "Blynk"}) == (400, b"Requested user not found.")


def test_upload_for_one_token_tells_that_device_at_once(account):
    server, email, app, token = account
    assert upload(server, {"token": token}) == (400, b"No device in session.")   # only the app is online
    assert upload(server, {"token": "A" * 32}) == (400, b"Invalid token.")
    with logged_in_device(server, token) as dev:
        status, path = upload(server, {"token": token})
        assert status == 200
        [(_, _, payload)] = ota_messages(dev)
        assert payload.decode().endswith(path.decode())


def test_get_start_names_the_file_and_reaches_every_device_of_the_owner(account):
    server, email, app, token = account
    app.close()
    app_barrier_closed = admin_request(server, "GET", f"/admin/ota/start?token={token}")
    assert app_barrier_closed == (400, b"Device wasn't connected yet.")   # nobody of that account online
    with logged_in_device(server, token) as dev:
        assert admin_request(server, "GET", f"/admin/ota/start?token={token}&fileName=my.bin")[0] == 200
        [(_, _, payload)] = ota_messages(dev)
        assert payload == f"ota\0http://127.0.0.1:{server.hw_port}/static/ota/my.bin".encode()


def test_credentials(account):
    server, email, app, token = account
    # Wrong credentials are answered from the head and the connection closed: a small body is all
    # sent by then, a large one could meet the closed connection before its answer is read.
    small = firmware(size=1000)
    assert upload(server, data=small, auth=(ADMIN_EMAIL, "wrong")) == (403, b"Authentication failed.")
    assert upload(server, data=small, auth=(email, "device-test-pass")) == (403, b"Authentication failed.")
    # Without credentials a firmware-sized body is refused at its head, before it is buffered.
    assert answer_to_head(server, "/admin/ota/start", 200_000) == 413
    assert upload(server, data=b"x" * 100, auth=None)[0] == 404
    assert admin_request(server, "GET", "/admin/ota/stop", auth=None)[0] == 404


def test_guessing_the_basic_auth_password_blocks_the_address_for_a_while(make_server):
    server = make_server(**{"login.failure.limit.per.ip": 3, "login.block.seconds": 1})
    small = firmware(size=1000)
    for guess in ("one", "two"):
        assert admin_request(server, "GET", "/admin/ota/stop", auth=(ADMIN_EMAIL, guess)) == \
            (403, b"Authentication failed.")
    assert upload(server, data=small, auth=(ADMIN_EMAIL, "three")) == (403, b"Authentication failed.")
    # Blocked: not even the right password is evaluated, with or without a body.
    assert admin_request(server, "GET", "/admin/ota/stop") == (429, b"Too many failed attempts; try again later.")
    assert upload(server, data=small)[0] == 429
    time.sleep(1.2)                   # the block (login.block.seconds) is over
    assert admin_request(server, "GET", "/admin/ota/stop")[0] == 200
    # A failure after a block blocks again at once (for twice as long).
    assert admin_request(server, "GET", "/admin/ota/stop", auth=(ADMIN_EMAIL, "four"))[0] == 403
    assert admin_request(server, "GET", "/admin/ota/stop")[0] == 429


@pytest.mark.parametrize("filename,size,status", [
    ("notes.txt", 5, 400),
    ("firmware.bin", 0, 400),
    ("big.bin", 4 * 1024 * 1024 + 1, 413),
], ids=["not-firmware", "empty", "over-4-MiB"])
def test_uploads_are_firmware_files_of_bounded_size(account, filename, size, status):
    server = account[0]
    assert upload(server, filename=filename, data=b"x" * size)[0] == status
    folder = os.path.join(server.data_dir, "ota")
    assert not os.path.isdir(folder) or os.listdir(folder) == []


def test_a_request_without_a_file_part_is_refused(account):
    server = account[0]
    assert admin_request(server, "POST", "/admin/ota/start", b"abc", {"Content-Type": "text/plain"}) == \
        (400, b"Can't find binary data in request.")


@pytest.mark.parametrize("path", ["/static/ota/../../server.properties", "/static/ota/%2e%2e%2fserver.properties",
                                  "/static/ota/nothing.bin", "/static/ota/.hidden.bin", "/static/ota/a/b.bin"])
def test_only_stored_firmware_is_served(account, path):
    server = account[0]
    assert upload(server)[0] == 200
    status, _, data = download(server, f"http://127.0.0.1:{server.hw_port}{path}")
    assert status == 404 and b"admin" not in data


def sign_in_cookie(server):
    """The admin page's session cookie, as its sign-in form gets it."""
    from blynklite.client import password_hash
    form = urllib.parse.urlencode({"email": ADMIN_EMAIL, "password": password_hash(ADMIN_PASS, ADMIN_EMAIL)})
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(server.host, server.app_port, timeout=WAIT, context=context)
    try:
        conn.request("POST", "/admin/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        response.read()
        return response.getheader("Set-Cookie").split(";", 1)[0]
    finally:
        conn.close()


def test_the_admin_page_starts_and_stops_updates_with_its_session_cookie(account):
    """What the page's Firmware form sends (admin.js startOta/stopOta): multipart with the cookie."""
    server, email, app, token = account
    cookie = sign_in_cookie(server)
    status, page = admin_request(server, "GET", "/admin", headers={"Cookie": cookie}, auth=None)
    assert status == 200 and b'id="ota-form"' in page
    payload, content_type = multipart("esp.bin", firmware())
    status, path = admin_request(server, "POST", "/admin/ota/start?" + urllib.parse.urlencode({"user": email}),
                                 payload, {"Content-Type": content_type, "Cookie": cookie}, auth=None)
    assert status == 200 and path.startswith(b"/static/ota/")
    assert admin_request(server, "GET", "/admin/ota/stop", headers={"Cookie": cookie}, auth=None)[0] == 200
    with logged_in_device(server, token) as dev:
        report_build(dev, "old")
        assert ota_messages(dev) == []


def download_like_a_device(port, path, pause=0.5):
    """GET as an ESP on Wi-Fi would: small segments and a small window, reading only after a pause,
    so the firmware cannot sit in the kernel's buffers and must be paced by the server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
    sock.settimeout(WAIT)
    sock.connect(("127.0.0.1", port))
    with sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ESP8266-http-Update\r\n\r\n".encode())
        time.sleep(pause)
        data = bytearray()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def test_a_firmware_larger_than_a_connection_may_queue_reaches_a_slow_device_whole(account):
    server, email, app, token = account
    image = firmware(size=3 * 1024 * 1024)       # an ESP32 image: over the 1 MiB output-queue limit
    status, path = upload(server, data=image)
    assert status == 200
    head, body = download_like_a_device(server.hw_port, path.decode())
    assert f"Content-Length: {len(image)}" in head and "application/octet-stream" in head
    assert body == image
    status, _, data = download(server, f"http://127.0.0.1:{server.hw_port}{path.decode()}")
    assert status == 200 and data == image       # and the next device gets it too
