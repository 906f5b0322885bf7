"""Blynk over websockets against the real server (spec/framing.md §4): devices on `/websockets`
(and the older `/websocket`) over ws:// and wss://, apps on wss://…/dashws, control frames, bad frames."""
import json

import pytest

from blynklite.client import password_hash
from blynklite.codec.commands import Command, Status
from devices import PASSWORD, ConnectionClosed, app_barrier, app_messages, device, new_account, open_app
from wsclient import WsClient, hardware_frame, parse_hardware


@pytest.fixture
def project(server):
    email = new_account(server)
    app = open_app(server, email)
    dash_id, device_id, token = app.new_device("Node-RED")
    app_barrier(app)
    yield {"server": server, "app": app, "token": token, "email": email, "target": f"{dash_id}-{device_id}"}
    app.close()


def login_device(ws, token):
    ws.send_binary(hardware_frame(Command.LOGIN, 1, token.encode()))
    assert parse_hardware(ws.receive_binary()) == (Command.RESPONSE, 1, Status.OK)


@pytest.mark.parametrize("secure, path", [(False, "/websockets"), (True, "/websockets"), (False, "/websocket"),
                                          (False, "/websockets/x"), (False, "/websockets?a=1")],
                         ids=["ws-8080", "wss-9443", "old-path", "sub-path", "query"])
def test_a_websocket_device_works_like_a_tcp_device(project, secure, path):
    server, app, target = project["server"], project["app"], project["target"]
    with WsClient.open(server, path, secure) as ws:
        assert ws.status_line == "HTTP/1.1 101 Switching Protocols"
        login_device(ws, project["token"])
        assert app_messages(app, Command.HARDWARE_CONNECTED)[0][2] == target.encode()
        ws.send_binary(hardware_frame(Command.HARDWARE, 7, b"vw\x001\x00hello"))
        assert app_messages(app, Command.HARDWARE) == [(Command.HARDWARE, 7, f"{target}\0vw\x001\x00hello".encode())]
        app.write(*map(int, target.split("-")), "V2", "42")
        assert parse_hardware(ws.receive_binary())[::2] == (Command.HARDWARE, b"vw\x002\x0042")
        ws.send_binary(hardware_frame(Command.PING, 9))
        assert parse_hardware(ws.receive_binary()) == (Command.RESPONSE, 9, Status.OK)


def test_two_messages_in_one_write_leave_as_two_frames(project):
    """Activation sends `pm` to devices; login's OK and `pm` leave as separate frames."""
    server, app = project["server"], project["app"]
    widget = {"id": 3, "type": "BUTTON", "pinType": "DIGITAL", "pin": 5, "deviceId": 0, "x": 0, "y": 0,
              "width": 2, "height": 2}
    dash_id = project["target"].split("-")[0]
    assert app.request(Command.CREATE_WIDGET, f"{dash_id}\0{json.dumps(widget)}")[2] == Status.OK
    with WsClient.open(server) as ws:
        login_device(ws, project["token"])
        assert parse_hardware(ws.receive_binary()) == (Command.HARDWARE, 1, b"pm\x005\x00out")


def test_ping_and_close_frames_are_answered(project):
    with WsClient.open(project["server"]) as ws:
        ws.send_frame(0x9, b"are you there")
        assert ws.receive() == (0xA, b"are you there")
        ws.send_frame(0x8, (1000).to_bytes(2, "big"))
        assert ws.receive() == (0x8, (1000).to_bytes(2, "big"))
        with pytest.raises(ConnectionClosed):
            ws.receive()


def test_text_frames_are_ignored(project):
    with WsClient.open(project["server"]) as ws:
        ws.send_frame(0x1, b"hello")
        login_device(ws, project["token"])


def test_an_unmasked_frame_closes_with_1002_and_disturbs_nobody(project):
    server = project["server"]
    with device(server) as hw, WsClient.open(server) as ws:
        assert hw.login(project["token"]) == Status.OK
        ws.sock.sendall(b"\x82\x05" + hardware_frame(Command.PING, 1))
        opcode, payload = ws.receive()
        assert opcode == 0x8 and payload[:2] == (1002).to_bytes(2, "big")
        assert hw.is_open()
        hw.barrier()


def test_handshake_without_a_key_is_refused(project):
    with WsClient.open(project["server"], headers={"Sec-WebSocket-Key": "nope"}) as ws:
        assert ws.status_line.startswith("HTTP/1.1 400")


def test_app_on_dashws_logs_in_and_receives_device_data(project):
    server, email, target = project["server"], project["email"], project["target"]
    with WsClient.open(server, "/dashws", secure=True) as ws, device(server) as hw:
        body = f"{email}\0{password_hash(PASSWORD, email)}\0Web\0 1.0\0Blynk".encode()
        ws.send_binary(bytes([Command.LOGIN]) + (1).to_bytes(2, "big") + body)
        assert ws.receive_binary() == b"\x00\x00\x01\x00\x00\x00\xc8"
        assert hw.login(project["token"]) == Status.OK
        assert ws.receive_binary() == bytes([Command.HARDWARE_CONNECTED]) + (1).to_bytes(2, "big") + target.encode()
        hw.send(Command.HARDWARE, b"vw\x003\x00on", msg_id=44)
        assert ws.receive_binary() == bytes([Command.HARDWARE]) + (44).to_bytes(2, "big") + f"{target}\0vw\x003\x00on".encode()


def test_dashws_refuses_register(project):
    with WsClient.open(project["server"], "/dashws", secure=True) as ws:
        ws.send_binary(bytes([Command.REGISTER]) + (1).to_bytes(2, "big") + b"a@b.cc\0x\0Blynk")
        assert ws.receive_binary() == b"\x00\x00\x01\x00\x00\x00\x06"   # NOT_ALLOWED, then closed
        with pytest.raises(ConnectionClosed):
            while ws.receive() is not None:
                pass


def test_dashws_is_not_served_on_the_plain_port(project):
    with WsClient.open(project["server"], "/dashws", secure=False) as ws:
        assert ws.status_line.startswith("HTTP/1.1 404")


def test_an_old_websocket_version_is_told_which_one_to_use(project):
    with WsClient.open(project["server"], headers={"Sec-WebSocket-Version": "8"}) as ws:
        assert ws.status_line.startswith("HTTP/1.1 426")
        assert "Sec-WebSocket-Version: 13" in ws.response_head
