"""Profiles on disk (spec/storage.md §1–3) and the startup banner (behaviours.md §12), against the real
server: restarts with SIGTERM and SIGINT, profile files written in the Java server's shape, atomic saves,
corrupt files and the administrator account.

Servers that need files in their data folder before the first start are built from conftest's
`RunningServer` directly (`unstarted`); everything else uses the `server` / `make_server` fixtures.
Every wait is bounded.
"""
import collections
import json
import re
import signal
import socket
import struct
import threading
import time
import zlib

import pytest

from blynklite.client import AppClient, password_hash
from conftest import RunningServer

WAIT = 5.0
SEP = "\0"

RESPONSE, LOGIN, PING, HARDWARE_CONNECTED, HARDWARE = 0, 2, 6, 4, 20
LOAD_PROFILE, APP_SYNC, HARDWARE_LOGIN = 24, 25, 29
CREATE_WIDGET, GET_ENERGY, GET_DEVICES = 33, 36, 45
OK, USER_NOT_AUTHENTICATED = 200, 5
SYNC_ID = 1111

EMAIL, PASSWORD = "user@blynk.cc", "secret"
ADMIN_EMAIL = "admin@blynk.cc"   # admin.email default (config.md §2.6)

JAVA_EMAIL = "test@blynk.cc"
JAVA_TOKEN = "JavaToken_0123456789abcdefghijkl"
JAVA_FILE = f"{JAVA_EMAIL}.Blynk.user"


def java_user(email=JAVA_EMAIL, token=JAVA_TOKEN, dash_name="Java project"):
    """A user file as the Java server 0.41 writes it (storage.md §2, app.md §5), plus a field it
    does not know (`futureField`)."""
    return {
        "name": email, "email": email, "appName": "Blynk", "region": "local", "ip": "10.0.0.5",
        "pass": password_hash("123", email),
        "lastModifiedTs": 1600000000000, "lastLoggedIP": "1.2.3.4", "lastLoggedAt": 1600000000000,
        "profile": {
            "dashBoards": [{
                "id": 1, "parentId": -1, "isPreview": False, "name": dash_name,
                "createdAt": 1600000000000, "updatedAt": 1600000000000,
                "widgets": [
                    {"type": "BUTTON", "id": 1, "x": 0, "y": 0, "color": 600084223, "width": 2,
                     "height": 2, "tabId": 0, "label": "Lamp", "isDefaultColor": False, "deviceId": 0,
                     "pinType": "DIGITAL", "pin": 1, "pwmMode": False, "rangeMappingOn": False,
                     "min": 0.0, "max": 1.0, "value": "1", "pushMode": False},
                    {"type": "DIGIT4_DISPLAY", "id": 2, "x": 2, "y": 0, "color": -308477697, "width": 2,
                     "height": 1, "tabId": 0, "label": "Temp", "isDefaultColor": False, "deviceId": 0,
                     "pinType": "VIRTUAL", "pin": 5, "pwmMode": False, "rangeMappingOn": False,
                     "min": 0.0, "max": 1023.0, "value": "33", "frequency": 0},
                ],
                "devices": [{
                    "id": 0, "name": "Java device", "boardType": "ESP8266", "token": token,
                    "vendor": "Espressif", "connectionType": "WI_FI", "status": "ONLINE",
                    "disconnectTime": 0, "connectTime": 1600000000000, "firstConnectTime": 1600000000000,
                    "dataReceivedAt": 1600000000000, "lastLoggedIP": "1.2.3.4",
                    "hardwareInfo": {"version": "0.5.4", "boardType": "ESP8266", "cpuType": "ESP8266",
                                     "connectionType": "WI-FI", "build": "Jan  1 2019 00:00:00",
                                     "blynkProtocolVersion": "0.5.4", "heartbeatInterval": 10,
                                     "buffIn": 1024},
                    "isUserIcon": False,
                }],
                "theme": "Blynk", "keepScreenOn": False, "isAppConnectedOn": False,
                "isNotificationsOff": False, "isShared": False, "isActive": True,
                "widgetBackgroundOn": False, "color": -1, "isDefaultColor": True,
            }],
            "pinsStorage": {"1-0-v24": "12.5"},
        },
        "isFacebookUser": False, "isSuperAdmin": False, "energy": 7500, "id": f"{email}-Blynk",
        "futureField": {"kept": [1, 2, 3]},
    }


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

def join(*fields):
    return SEP.join(str(f) for f in fields)


def connect(server):
    return AppClient(server.host, server.app_port, tls=True, timeout=WAIT)


def login(server, email=EMAIL, password=PASSWORD):
    client = connect(server)
    status = client.login(email, password)
    assert status == OK, f"login {email}: status {status}"
    return client


def status(client, command, *fields):
    reply = client.request(command, join(*fields))
    assert reply[0] == RESPONSE, reply
    return reply[2]


def profile_of(client):
    command, _, payload = client.request(LOAD_PROFILE, b"")
    assert command == LOAD_PROFILE
    return json.loads(zlib.decompress(payload))


def energy_of(client):
    command, _, payload = client.request(GET_ENERGY, b"")
    assert command == GET_ENERGY
    return payload.decode()


def synced(client, dash_id):
    replies = client.sync(dash_id, settle=0.5)
    assert replies[0][2] == OK, replies[0]
    return {p.decode() for c, i, p in replies[1:] if (c, i) == (APP_SYNC, SYNC_ID)}


def take(client, wanted, what):
    for message in list(client.inbox):
        if wanted(message):
            client.inbox.remove(message)
            return message
    message = client.wait_for(wanted, WAIT)
    assert message is not None, f"no {what} within {WAIT} s; inbox {list(client.inbox)}"
    return message


class Device:
    """A raw hardware connection on the plain hardware port (5-byte `>BHH` headers)."""

    def __init__(self, server):
        self.sock = socket.create_connection((server.host, server.hw_port), timeout=WAIT)
        self.buffer = b""
        self.frames = collections.deque()
        self.next_id = 1

    def close(self):
        self.sock.close()

    def send(self, command, body=""):
        msg_id, self.next_id = self.next_id, self.next_id % 0xFFFF + 1
        data = body.encode()
        self.sock.sendall(struct.pack(">BHH", command, msg_id, len(data)) + data)
        return msg_id

    def login(self, token):
        msg_id = self.send(HARDWARE_LOGIN, token)
        return self.expect(lambda f: f[0] == RESPONSE and f[1] == msg_id, "login reply")[2]

    def write(self, pin, value):
        self.send(HARDWARE, join(pin[0].lower() + "w", pin[1:], value))

    def barrier(self):
        """PING and wait for its OK: every earlier message of this connection has been handled."""
        msg_id = self.send(PING)
        assert self.expect(lambda f: f[0] == RESPONSE and f[1] == msg_id, "PING reply")[2] == OK

    def expect(self, wanted, what):
        deadline = time.monotonic() + WAIT
        seen = []
        while True:
            while self.frames:
                frame = self.frames.popleft()
                if wanted(frame):
                    return frame
                seen.append(frame)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"device got no {what} within {WAIT} s; seen {seen}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise ConnectionError(f"closed while waiting for {what}; seen {seen}")
            self.buffer += data
            while len(self.buffer) >= 5:
                command, msg_id, size = struct.unpack(">BHH", self.buffer[:5])
                if command == RESPONSE:
                    self.frames.append((command, msg_id, size))
                    self.buffer = self.buffer[5:]
                elif len(self.buffer) >= 5 + size:
                    self.frames.append((command, msg_id, self.buffer[5:5 + size].decode()))
                    self.buffer = self.buffer[5 + size:]
                else:
                    break


def online(server, token):
    device = Device(server)
    assert device.login(token) == OK
    return device


@pytest.fixture
def unstarted(tmp_path):
    """Servers whose data folder the test fills before calling `start()`; all stopped at the end."""
    made = []

    def make(name="srv", **properties):
        running = RunningServer(tmp_path / name, {k.replace("_", "."): v for k, v in properties.items()})
        running.data_dir.mkdir(parents=True)
        made.append(running)
        return running
    yield make
    for running in made:
        running.stop()


def user_files(server):
    return sorted(p for p in server.data_dir.iterdir() if p.name.endswith(".user"))


def read_stdout_line(server, timeout=WAIT):
    """The next line the server prints after the banner, or None within `timeout`."""
    lines = []
    reader = threading.Thread(target=lambda: lines.append(server.process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines and lines[0] else None


# --------------------------------------------------------------------------------------------------
# restarts
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_profiles_survive_a_restart(server, sig):
    with connect(server) as client:
        assert client.register(EMAIL, PASSWORD) == OK
        assert client.login(EMAIL, PASSWORD) == OK
        assert client.create_dash(1, "kept board") == OK
        button_v1 = {"type": "BUTTON", "id": 7, "x": 0, "y": 0, "width": 1, "height": 1,
                     "pinType": "VIRTUAL", "pin": 1}
        assert status(client, CREATE_WIDGET, 1, json.dumps(button_v1)) == OK
        token = client.create_device(1, 0, "Kept device")["token"]
        energy = energy_of(client)
        client.activate(1)
    device = online(server, token)
    device.write("V1", "77")        # the button's value
    device.write("V24", "12.5")     # no widget: pinsStorage
    device.barrier()
    device.close()

    assert server.stop(sig) == 0, server.log_text()[-3000:]
    server.start()

    with login(server) as client:
        profile = profile_of(client)
        (dash,) = profile["dashBoards"]
        assert (dash["id"], dash["name"], dash["isActive"]) == (1, "kept board", True)
        (button,) = dash["widgets"]
        assert (button["id"], button["pin"], button.get("value")) == (7, 1, "77")
        (saved_device,) = dash["devices"]
        assert (saved_device["name"], saved_device["token"]) == ("Kept device", token)
        assert saved_device.get("status") == "OFFLINE"
        assert profile["pinsStorage"] == {"1-0-v24": "12.5"}
        assert energy_of(client) == energy
        assert synced(client, 1) == {join("1-0", "vw", 1, 77), join("1-0", "vw", 24, "12.5")}
        online(server, token).close()
        take(client, lambda m: m[0] == HARDWARE_CONNECTED, "HARDWARE_CONNECTED after restart")


def test_java_shaped_profile_file_loads_and_keeps_unknown_fields(unstarted):
    server = unstarted()
    (server.data_dir / JAVA_FILE).write_text(json.dumps(java_user()), encoding="utf-8")
    server.start()

    with connect(server) as client:
        # the stored hash is compared as sent (app.md §2.3)
        assert status(client, LOGIN, JAVA_EMAIL, password_hash("123", JAVA_EMAIL), "Android", "2.27.0",
                      "Blynk") == OK
        assert energy_of(client) == "7500"
        command, _, payload = client.request(GET_DEVICES, "1")
        (listed,) = json.loads(payload)
        assert (listed["token"], listed["status"]) == (JAVA_TOKEN, "OFFLINE")   # OFFLINE after load
        assert synced(client, 1) == {join("1-0", "vw", 24, "12.5"), join("1-0", "dw", 1, 1),
                                     join("1-0", "vw", 5, 33)}

        device = Device(server)
        assert device.login(JAVA_TOKEN) == OK
        # the dashboard was saved active, so the device gets its pin modes (commands.md §4.1)
        assert device.expect(lambda f: f[0] == HARDWARE, "pm") == (HARDWARE, 1, join("pm", 1, "out"))
        take(client, lambda m: m[:3] == (HARDWARE_CONNECTED, 1, b"1-0"), "HARDWARE_CONNECTED")
        device.write("V24", "13")   # a change, so the profile is written again
        device.barrier()
        device.close()

    server.stop()
    saved = json.loads((server.data_dir / JAVA_FILE).read_text(encoding="utf-8"))
    assert saved["profile"]["pinsStorage"]["1-0-v24"] == "13"
    assert saved.get("futureField") == {"kept": [1, 2, 3]}
    assert (saved["email"], saved["pass"]) == (JAVA_EMAIL, password_hash("123", JAVA_EMAIL))
    assert saved["ip"] == server.host     # set to this server's host on load (storage.md §2)

    server.start()
    with connect(server) as client:
        assert client.login(JAVA_EMAIL, "123") == OK
        assert synced(client, 1) >= {join("1-0", "vw", 24, 13)}
    server.stop()
    saved = json.loads((server.data_dir / JAVA_FILE).read_text(encoding="utf-8"))
    assert saved.get("futureField") == {"kept": [1, 2, 3]}


def test_old_file_shapes_are_upgraded_on_load(unstarted):
    """storage.md §2: a missing `email` comes from `name`; a per-dashboard `pinsStorage`
    (`deviceId-<t><pin>` keys) moves into the profile-level map with the dashboard id prefixed."""
    server = unstarted()
    old = java_user()
    del old["email"]
    del old["profile"]["pinsStorage"]
    old["profile"]["dashBoards"][0]["pinsStorage"] = {"0-v30": "7", "0-v31-label": "Old"}
    (server.data_dir / JAVA_FILE).write_text(json.dumps(old), encoding="utf-8")
    server.start()
    with connect(server) as client:
        assert client.login(JAVA_EMAIL, "123") == OK
        profile = profile_of(client)
        assert profile.get("pinsStorage") == {"1-0-v30": "7", "1-0-v31-label": "Old"}
        assert "pinsStorage" not in profile["dashBoards"][0]
        assert join("1-0", "vw", 30, 7) in synced(client, 1)


# --------------------------------------------------------------------------------------------------
# atomic saves
# --------------------------------------------------------------------------------------------------

def test_saves_are_atomic_never_empty_and_leave_no_temp_files(make_server):
    # the message-rate limit (100/s, framing.md §7) is lifted: this test floods on purpose
    server = make_server(profile_save_worker_period=200, user_message_quota_limit=1000000)
    with connect(server) as client:
        assert client.register(EMAIL, PASSWORD) == OK
        assert client.login(EMAIL, PASSWORD) == OK
        assert client.create_dash(1, "busy") == OK
        token = client.create_device(1, 0, "Busy device")["token"]
    device = online(server, token)
    filler = "x" * 500
    for pin in range(200):            # a profile of ~100 KB makes a torn write easier to catch
        device.write(f"V{pin}", filler)
    device.barrier()

    stop = threading.Event()

    def keep_writing():
        n = 0
        while not stop.is_set():
            n += 1
            device.write(f"V{n % 200}", f"{n}-{filler}")
            time.sleep(0.002)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    reads, problems = 0, []
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            for path in user_files(server):
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    problems.append(f"{path.name} missing for a moment")
                    continue
                reads += 1
                try:
                    json.loads(data)
                except ValueError:
                    problems.append(f"{path.name}: {len(data)} bytes, not valid JSON")
    finally:
        stop.set()
        writer.join(WAIT)
    device.barrier()
    device.close()
    assert reads > 50 and not problems, problems[:5]

    server.stop()
    assert not [p.name for p in server.data_dir.rglob("*.tmp")]
    files = user_files(server)
    assert f"{EMAIL}.Blynk.user" in [p.name for p in files]
    for path in files:
        data = path.read_bytes()
        assert data, f"{path.name} is empty"
        json.loads(data)
    saved = json.loads((server.data_dir / f"{EMAIL}.Blynk.user").read_bytes())
    assert len(saved["profile"]["pinsStorage"]) == 200


# --------------------------------------------------------------------------------------------------
# corrupt files
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    json.dumps(java_user("broken@blynk.cc", "BrokenToken_0123456789abcdefghij"))[:300].encode(),
    b"\x00\xff\xfe not json at all",
    b"",
], ids=["truncated", "garbage", "empty"])
def test_corrupt_user_file_is_logged_and_left_alone(unstarted, content):
    server = unstarted()
    broken = server.data_dir / "broken@blynk.cc.Blynk.user"
    broken.write_bytes(content)
    (server.data_dir / JAVA_FILE).write_text(json.dumps(java_user()), encoding="utf-8")
    server.start()

    assert server.process.poll() is None
    assert "broken@blynk.cc.Blynk.user" in server.log_text()
    with connect(server) as client:     # the other user is loaded
        assert client.login(JAVA_EMAIL, "123") == OK
        assert profile_of(client)["dashBoards"][0]["name"] == "Java project"
    with connect(server) as client:     # and the server keeps working
        assert client.register(EMAIL, PASSWORD) == OK
        assert client.login(EMAIL, PASSWORD) == OK
        assert client.create_dash(1, "new") == OK
    device = Device(server)
    assert device.login(JAVA_TOKEN) == OK
    device.close()

    assert server.stop() == 0
    assert broken.read_bytes() == content
    assert json.loads((server.data_dir / f"{EMAIL}.Blynk.user").read_bytes())["email"] == EMAIL


def test_corrupt_user_file_falls_back_to_the_newest_backup(unstarted):
    server = unstarted()
    name = "broken@blynk.cc.Blynk.user"
    (server.data_dir / name).write_text(json.dumps(java_user("broken@blynk.cc"))[:200])
    backup = server.data_dir / "backup"
    backup.mkdir()
    (backup / f"{name}.2024-01-01").write_text(
        json.dumps(java_user("broken@blynk.cc", dash_name="older backup")))
    (backup / f"{name}.2024-01-02").write_text(
        json.dumps(java_user("broken@blynk.cc", dash_name="newest backup")))
    server.start()
    with connect(server) as client:
        assert client.login("broken@blynk.cc", "123") == OK
        assert profile_of(client)["dashBoards"][0]["name"] == "newest backup"


# --------------------------------------------------------------------------------------------------
# banner, administrator, log file
# --------------------------------------------------------------------------------------------------

def test_banner_admin_account_and_log_file(make_server):
    server = make_server(admin_pass="s3cret-pass")
    assert re.search(r"^Blynk Server successfully started\.$", server.banner, re.M), server.banner
    admin_line = read_stdout_line(server)
    assert admin_line is not None and ADMIN_EMAIL in admin_line, admin_line
    assert "s3cret-pass" not in admin_line     # a configured password is not echoed

    with connect(server) as client:
        assert client.login(ADMIN_EMAIL, "wrong") == USER_NOT_AUTHENTICATED
    with connect(server) as client:
        assert client.login(ADMIN_EMAIL, "s3cret-pass") == OK

    log_file = server.logs_dir / "blynk.log"
    assert log_file.is_file() and log_file.stat().st_size > 0


def test_admin_password_is_generated_and_printed_when_admin_pass_is_empty(make_server):
    server = make_server(admin_pass="")
    admin_line = read_stdout_line(server)
    assert admin_line is not None and ADMIN_EMAIL in admin_line, admin_line
    candidates = [w for w in re.findall(r"[^\s:]{24}", admin_line) if ADMIN_EMAIL not in w]
    assert candidates, f"no 24-character password in {admin_line!r}"
    with connect(server) as client:
        assert client.login(ADMIN_EMAIL, candidates[0]) == OK


def test_admin_is_created_once(server):
    with connect(server) as client:
        assert client.login(ADMIN_EMAIL, "admin-test-pass") == OK
    server.stop()
    server.start()
    assert read_stdout_line(server, timeout=1.0) is None     # no new admin, no password line
    with connect(server) as client:
        assert client.login(ADMIN_EMAIL, "admin-test-pass") == OK
    assert [p.name for p in user_files(server)].count(f"{ADMIN_EMAIL}.Blynk.user") == 1


def test_changed_profiles_get_a_daily_backup(server):
    with connect(server) as client:
        assert client.register(EMAIL, PASSWORD) == OK
        assert client.login(EMAIL, PASSWORD) == OK
        assert client.create_dash(1, "backed up") == OK
    backup = server.data_dir / "backup" / f"{EMAIL}.Blynk.user.{time.strftime('%Y-%m-%d')}"
    deadline = time.monotonic() + WAIT
    while not backup.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backup.exists(), sorted(p.name for p in server.data_dir.rglob("*"))
    assert json.loads(backup.read_text())["email"] == EMAIL
