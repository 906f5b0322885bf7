"""The MQTT hardware port (spec/commands.md §7) driven by paho-mqtt, seen by the app and by a
blynklib device: CONNECT with e-mail and token, PUBLISH on `hardware`, PINGREQ, DISCONNECT, and the
packets and logins that are refused."""
import socket
import threading
import time

import pytest

from blynklite.codec import mqtt
from blynklite.codec.commands import Command

from conftest import free_ports
from devices import WAIT, app_barrier, app_messages, new_account, open_app

paho = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is in the test extra")
blynklib = pytest.importorskip("blynklib", reason="blynklib is in the test extra")


@pytest.fixture
def mqtt_server(make_server):
    port = free_ports(1)[0]
    running = make_server(**{"hardware.mqtt.port": port})
    running.mqtt_port = port
    return running


@pytest.fixture
def account(mqtt_server):
    email = new_account(mqtt_server)
    app = open_app(mqtt_server, email)
    dash_id, device_id, token = app.new_device("MQTT device")
    app_barrier(app)
    yield mqtt_server, email, app, (dash_id, device_id, token)
    app.close()


class PahoDevice:
    """A paho-mqtt client with its network loop in paho's own thread; every wait bounded."""

    def __init__(self, port, username, token, keepalive=60):
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.result = None
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="blynk-test", protocol=paho.MQTTv311)
        self.client.username_pw_set(username, token)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        self.client.connect("127.0.0.1", port, keepalive=keepalive)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.result = reason_code
        self.connected.set()

    def publish(self, payload):
        info = self.client.publish("hardware", payload, qos=0)
        info.wait_for_publish(timeout=WAIT)
        assert info.is_published()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def connect_paho(port, username, token, keepalive=60):
    device = PahoDevice(port, username, token, keepalive)
    assert device.connected.wait(WAIT), "no CONNACK"
    return device


def test_paho_publish_reaches_the_app_and_a_blynklib_device_syncs_the_stored_value(account):
    server, email, app, (dash_id, device_id, token) = account
    device = connect_paho(server.mqtt_port, email.upper(), token)
    try:
        assert not device.result.is_failure
        [connected] = app_messages(app, Command.HARDWARE_CONNECTED)
        assert connected[1:] == (0xFFFF, f"{dash_id}-{device_id}".encode())
        device.publish("vw 5 42.5")
        [forwarded] = app_messages(app, Command.HARDWARE)
        assert forwarded[1:] == (0xFFFF, f"{dash_id}-{device_id}\0vw\x005\x0042.5".encode())
    finally:
        device.close()
    assert synced_by_blynklib(server, token, 5) == ["42.5"]


def synced_by_blynklib(server, token, pin):
    """Log a blynklib device in with the same token, ask for `pin`, return what it is told."""
    seen = []
    lib = blynklib.Blynk(token, server=server.host, port=server.hw_port, heartbeat=10, log=lambda *a: None)
    lib._events = {}
    lib.handle_event(f"write V{pin}")(lambda p, values: seen.extend(values))
    deadline = time.monotonic() + WAIT
    try:
        while not lib.connected() and time.monotonic() < deadline:
            lib.run()
        assert lib.connected(), "blynklib did not log in"
        lib.virtual_sync(pin)
        while not seen and time.monotonic() < deadline:
            lib.run()
    finally:
        lib.disconnect()
    return seen


def test_app_sync_returns_the_published_value(account):
    server, email, app, (dash_id, device_id, token) = account
    device = connect_paho(server.mqtt_port, email, token)
    try:
        device.publish("vw 7 hello")
        assert app_messages(app, Command.HARDWARE)
    finally:
        device.close()
    replies = app.sync(dash_id, device_id)
    assert any(m[0] == Command.APP_SYNC and m[2].endswith(b"vw\x007\x00hello") for m in replies[1:]), replies


@pytest.mark.parametrize("who", ["wrong-email", "wrong-token"])
def test_wrong_email_or_token_gets_bad_user_name_or_password(account, who):
    server, email, app, (dash_id, device_id, token) = account
    user, password = ("other@example.com", token) if who == "wrong-email" else (email, "A" * 32)
    device = PahoDevice(server.mqtt_port, user, password)
    try:
        assert device.connected.wait(WAIT)
        # paho reports 3.1.1's return code 4 under its MQTT 5 name
        assert device.result.is_failure and str(device.result) == "Bad user name or password"
    finally:
        device.close()
    assert not [m for m in app_barrier(app) if m[0] == Command.HARDWARE_CONNECTED]


def raw(server):
    sock = socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=WAIT)
    return sock


def read_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def closed_by_server(sock):
    sock.settimeout(WAIT)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_pingreq_is_answered_with_pingresp_and_disconnect_closes(account):
    server, email, app, (_, _, token) = account
    with raw(server) as sock:
        sock.sendall(mqtt.connect("c", email, token.encode()))
        assert read_exactly(sock, 4) == mqtt.connack(mqtt.ACCEPTED, session_present=True)
        sock.sendall(mqtt.encode(mqtt.PINGREQ, 0))
        assert read_exactly(sock, 2) == mqtt.pingresp()
        sock.sendall(mqtt.encode(mqtt.DISCONNECT, 0))
        assert closed_by_server(sock)
    assert app_messages(app, Command.DEVICE_OFFLINE), "app was not told the MQTT device left"


def test_packet_before_connect_closes_the_connection(account):
    server = account[0]
    with raw(server) as sock:
        sock.sendall(mqtt.publish("hardware", b"vw 1 1"))
        assert closed_by_server(sock)


def test_garbage_closes_only_that_connection(account):
    server, email, app, (_, _, token) = account
    device = connect_paho(server.mqtt_port, email, token)
    try:
        with raw(server) as sock:
            sock.sendall(b"\x30\xff\xff\xff\xff\x01")
            assert closed_by_server(sock)
        device.publish("vw 1 still-here")
        assert app_messages(app, Command.HARDWARE)
    finally:
        device.close()
    assert "remaining length" in server.log_text()


def test_short_and_malformed_bodies_and_other_topics_are_ignored(account):
    server, email, app, (dash_id, device_id, token) = account
    with raw(server) as sock:
        sock.sendall(mqtt.connect("c", email, token.encode()))
        assert read_exactly(sock, 4)[:2] == b"\x20\x02"
        for topic, payload in (("hardware", b"vw"), ("hardware", b"vw 1"), ("other", b"vw 1 1"),
                               ("hardware", b"vw x 1")):
            sock.sendall(mqtt.publish(topic, payload))
        sock.sendall(mqtt.encode(mqtt.SUBSCRIBE, 0b0010, b"\x00\x01\x00\x01#\x00"))
        sock.sendall(mqtt.publish("HARDWARE", b"vw 2 ok", qos=1, packet_id=77))
        [forwarded] = app_messages(app, Command.HARDWARE)
        assert forwarded[1:] == (77, f"{dash_id}-{device_id}\0vw\x002\x00ok".encode())
        sock.sendall(mqtt.encode(mqtt.PINGREQ, 0))
        assert read_exactly(sock, 2) == mqtt.pingresp()   # SUBSCRIBE got no SUBACK, the link lives


def test_port_zero_disables_the_listener(server):
    assert "mqtt" not in server.banner
