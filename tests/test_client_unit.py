"""The app client against a scripted fake server over real loopback TCP (no TLS, no blynklite server).

`FakePeer` accepts connections one after another, decodes what the client sends with the app codec and
answers each message with whatever its `answer(command, msg_id, body)` function returns (raw frames).
Every socket operation and join is bounded, so a broken client fails the test instead of hanging it.
"""
import json
import socket
import threading
import time
import zlib

import pytest

from blynklite.client import AppClient, ClientError, main, password_hash
from blynklite.codec.commands import Command, Status
from blynklite.codec.frames import APP, app_decoder

EMAIL = "test@gmail.com"
HASH_123 = "/pyQf3JCj5XoczfsYJ4LUb+y0DONGMl/AFzLiBTo8LA="
TOKEN = "a" * 32
WAIT = 5.0


def ok(msg_id):
    return APP.response(msg_id, Status.OK)


def status(msg_id, code):
    return APP.response(msg_id, code)


def message(command, msg_id, body):
    return APP.message(command, msg_id, body.encode() if isinstance(body, str) else body)


def profile_reply(msg_id, profile):
    return message(Command.LOAD_PROFILE_GZIPPED, msg_id, zlib.compress(json.dumps(profile).encode()))


class FakePeer:
    """A tiny scripted server. `received` holds (connection number, command, msg_id, body text)."""

    def __init__(self, answer):
        self.answer = answer
        self.received = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        self._thread.join(WAIT)
        self._listener.close()
        assert not self._thread.is_alive(), "fake peer did not stop"

    def client(self, timeout=2.0):
        return AppClient("127.0.0.1", self.port, tls=False, timeout=timeout)

    def commands(self):
        return [command for _, command, _, _ in self.received]

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            self.connections += 1
            with conn:
                self._talk(conn, self.connections)

    def _talk(self, conn, number):
        conn.settimeout(0.2)
        decoder = app_decoder()
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            for command, msg_id, size, body in decoder.feed(data):
                text = bytes(body).decode("utf-8")
                self.received.append((number, command, msg_id, text))
                reply = self.answer(command, msg_id, text)
                if reply is None:
                    return  # close the connection
                conn.sendall(reply)


@pytest.fixture
def peer_factory():
    peers = []

    def make(answer):
        peers.append(FakePeer(answer))
        return peers[-1]

    yield make
    for peer in peers:
        peer.close()


def scripted(table):
    """answer() from {command: reply function (msg_id, body) -> bytes}; unknown commands get no reply."""
    return lambda command, msg_id, body: table.get(command, lambda i, b: b"")(msg_id, body)


# -- password hash --------------------------------------------------------------------------------

def test_password_hash_matches_the_spec_test_vector():
    assert password_hash("123", "test@gmail.com") == HASH_123


def test_password_hash_salts_with_the_lower_cased_email():
    assert password_hash("123", "Test@GMail.com") == HASH_123
    assert password_hash("124", "test@gmail.com") != HASH_123


# -- request, inbox, receive ----------------------------------------------------------------------

def test_push_before_the_reply_lands_in_the_inbox(peer_factory):
    push = message(Command.HARDWARE, 77, "1-0\0vw\01\042")
    peer = peer_factory(scripted({Command.PING: lambda i, b: push + ok(i)}))
    with peer.client() as client:
        assert client.request(Command.PING) == (Command.RESPONSE, 1, Status.OK)
        assert list(client.inbox) == [(Command.HARDWARE, 77, b"1-0\0vw\01\042")]
        assert client.receive(0.5) == (Command.HARDWARE, 77, b"1-0\0vw\01\042")
        assert client.receive(0.2) is None


def test_push_reusing_the_request_id_is_not_taken_for_the_reply(peer_factory):
    # Another app session's ACTIVATE is forwarded with *its* msg id, which may equal ours.
    def answer(i, body):
        return message(Command.ACTIVATE_DASHBOARD, i, "1") + message(Command.HARDWARE, i, "1-0\0vw\01\01") + ok(i)
    peer = peer_factory(scripted({Command.ACTIVATE_DASHBOARD: answer}))
    with peer.client() as client:
        assert client.activate(1) == Status.OK
        assert [m[0] for m in client.inbox] == [Command.ACTIVATE_DASHBOARD, Command.HARDWARE]


def test_messages_keep_their_order_across_requests_and_partial_reads(peer_factory):
    def answer(command, msg_id, body):
        frames = message(Command.HARDWARE, 5, "1-0\0vw\02\0x") + ok(msg_id) + message(Command.DEVICE_OFFLINE, 0, "1-0")
        return frames
    peer = peer_factory(answer)
    with peer.client() as client:
        client.request(Command.PING)
        client.request(Command.PING)
        received = [client.receive(1.0) for _ in range(4)]
    assert [(m[0], m[1]) for m in received] == [
        (Command.HARDWARE, 5), (Command.DEVICE_OFFLINE, 0), (Command.HARDWARE, 5), (Command.DEVICE_OFFLINE, 0)]


def test_message_ids_increment_from_one_and_wrap_to_one(peer_factory):
    peer = peer_factory(lambda command, msg_id, body: b"")
    with peer.client() as client:
        assert [client.send(Command.PING) for _ in range(3)] == [1, 2, 3]
        client._last_id = 0xFFFE
        assert [client.send(Command.PING) for _ in range(3)] == [0xFFFF, 1, 2]


def test_request_without_reply_times_out_within_the_timeout(peer_factory):
    peer = peer_factory(lambda command, msg_id, body: b"")
    with peer.client(timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.request(Command.PING)
        assert time.monotonic() - started < 2.0


def test_server_closing_the_connection_is_a_connection_error(peer_factory):
    peer = peer_factory(lambda command, msg_id, body: None)
    with peer.client() as client:
        with pytest.raises(ConnectionError):
            client.request(Command.PING)


# -- account and profile --------------------------------------------------------------------------

def test_register_and_login_send_the_hashed_password(peer_factory):
    peer = peer_factory(scripted({
        Command.REGISTER: lambda i, b: status(i, Status.USER_ALREADY_REGISTERED),
        Command.LOGIN: lambda i, b: status(i, Status.USER_NOT_AUTHENTICATED),
    }))
    with peer.client() as client:
        assert client.register(" Test@gmail.com", "123") == Status.USER_ALREADY_REGISTERED
        assert client.login(EMAIL, "123") == Status.USER_NOT_AUTHENTICATED
    assert [b for _, _, _, b in peer.received] == [
        f"{EMAIL}\0{HASH_123}\0Blynk", f"{EMAIL}\0{HASH_123}\0Android\x002.27.0\0Blynk"]


def test_load_profile_inflates_the_zlib_body(peer_factory):
    profile = {"dashBoards": [{"id": 1, "name": "Home", "devices": []}]}
    peer = peer_factory(scripted({Command.LOAD_PROFILE_GZIPPED: lambda i, b: profile_reply(i, profile)}))
    with peer.client() as client:
        assert client.load_profile() == profile


def test_create_device_returns_the_reply_json_with_token(peer_factory):
    device = {"id": 0, "name": "Kitchen", "boardType": "ESP8266", "token": TOKEN, "status": "OFFLINE"}
    peer = peer_factory(scripted({Command.CREATE_DEVICE: lambda i, b: message(Command.CREATE_DEVICE, i, json.dumps(device))}))
    with peer.client() as client:
        assert client.create_device(1, 0, "Kitchen") == device
    dash, sent = peer.received[0][3].split("\0")
    assert dash == "1" and json.loads(sent) == {"id": 0, "name": "Kitchen", "boardType": "ESP8266"}


def test_create_device_refused_raises_client_error_with_the_status(peer_factory):
    peer = peer_factory(scripted({Command.CREATE_DEVICE: lambda i, b: status(i, Status.NOT_ALLOWED)}))
    with peer.client() as client:
        with pytest.raises(ClientError) as error:
            client.create_device(1, 0, "Kitchen")
    assert error.value.status == Status.NOT_ALLOWED
    assert "NOT_ALLOWED (6)" in str(error.value)


def new_device_server(profile, token=TOKEN):
    def create_device(i, body):
        device = json.loads(body.split("\0", 1)[1])
        return message(Command.CREATE_DEVICE, i, json.dumps({**device, "token": token}))
    return scripted({
        Command.REGISTER: lambda i, b: ok(i),
        Command.LOGIN: lambda i, b: ok(i),
        Command.LOAD_PROFILE_GZIPPED: lambda i, b: profile_reply(i, profile),
        Command.CREATE_DASH: lambda i, b: ok(i),
        Command.CREATE_DEVICE: create_device,
        # Activation with the device offline: per-device DNIN(1), then DNIN for the request.
        Command.ACTIVATE_DASHBOARD: lambda i, b: status(1, Status.DEVICE_NOT_IN_NETWORK) + status(i, Status.DEVICE_NOT_IN_NETWORK),
    })


def test_new_device_creates_project_one_when_there_is_none(peer_factory):
    peer = peer_factory(new_device_server({}))
    with peer.client() as client:
        client.send(Command.PING)  # so that the activate request does not use msg id 1
        assert client.new_device("Kitchen") == (1, 0, TOKEN)
    sent = {command: body for _, command, _, body in peer.received}
    assert json.loads(sent[Command.CREATE_DASH]) == {"id": 1, "name": "My Project"}
    assert sent[Command.CREATE_DEVICE].startswith("1\0")
    assert sent[Command.ACTIVATE_DASHBOARD] == "1"


def test_new_device_takes_the_next_id_in_the_first_project(peer_factory):
    profile = {"dashBoards": [{"id": 7, "devices": [{"id": 0}, {"id": 3}]}, {"id": 8, "devices": []}]}
    peer = peer_factory(new_device_server(profile))
    with peer.client() as client:
        assert client.new_device("Lamp", board="NodeMCU") == (7, 4, TOKEN)
        assert client.new_device("Fan", dash_id=8) == (8, 0, TOKEN)
    assert Command.CREATE_DASH not in peer.commands()


# -- controlling devices --------------------------------------------------------------------------

def test_write_builds_the_hardware_body_for_each_pin_kind(peer_factory):
    peer = peer_factory(lambda command, msg_id, body: b"")
    with peer.client() as client:
        assert client.write(1, 0, "V1", 42) == 1
        client.write(1, 2, "D13", "1")
        client.write(3, 0, "a0", [10, 20, 30])
        with pytest.raises(ValueError):
            client.write(1, 0, "X1", 1)
        deadline = time.monotonic() + WAIT
        while len(peer.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert [(c, b) for _, c, _, b in peer.received] == [
        (Command.HARDWARE, "1-0\0vw\x001\x0042"),
        (Command.HARDWARE, "1-2\0dw\x0013\x001"),
        (Command.HARDWARE, "3-0\0aw\x000\x0010\x0020\x0030"),
    ]


def test_sync_returns_ok_and_the_replayed_values_but_not_other_pushes(peer_factory):
    def answer(i, body):
        return (ok(i) + message(Command.APP_SYNC, 1111, "1-0\0vw\x001\x0042")
                + message(Command.HARDWARE, 9, "1-0\0vw\x002\x007")
                + message(Command.SET_WIDGET_PROPERTY, 1111, "1-0\x001\0label\0Hi"))
    peer = peer_factory(scripted({Command.APP_SYNC: answer}))
    with peer.client() as client:
        replies = client.sync(1, 0, settle=0.3)
        assert list(client.inbox) == [(Command.HARDWARE, 9, b"1-0\0vw\x002\x007")]
    assert replies == [(Command.RESPONSE, 1, Status.OK),
                       (Command.APP_SYNC, 1111, b"1-0\0vw\x001\x0042"),
                       (Command.SET_WIDGET_PROPERTY, 1111, b"1-0\x001\0label\0Hi")]
    assert peer.received[0][3] == "1-0"


# -- command line ---------------------------------------------------------------------------------

def run_cli(peer, *args):
    return main(["--port", str(peer.port), "--no-tls", "--timeout", "2",
                 "--email", EMAIL, "--password", "123", *args])


def test_cli_new_device_prints_only_the_token_and_logs_in_on_a_new_connection(peer_factory, capsys):
    peer = peer_factory(new_device_server({}))
    assert run_cli(peer, "new-device", "Kitchen") == 0
    out, err = capsys.readouterr()
    assert out == TOKEN + "\n"
    assert f"Device 'Kitchen' (dash 1, device 0) token: {TOKEN}" in err
    connection_of = {command: number for number, command, _, _ in peer.received}
    assert connection_of[Command.REGISTER] == 1 and connection_of[Command.LOGIN] == 2


def test_cli_failed_login_names_the_status_and_exits_2(peer_factory, capsys):
    peer = peer_factory(scripted({Command.LOGIN: lambda i, b: status(i, Status.USER_NOT_AUTHENTICATED)}))
    assert run_cli(peer, "tokens") == 2
    out, err = capsys.readouterr()
    assert out == "" and "USER_NOT_AUTHENTICATED (5)" in err and "Traceback" not in err


def test_cli_connection_refused_exits_2_with_a_clear_message(capsys):
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    code = main(["--port", str(port), "--no-tls", "--email", EMAIL, "--password", "x", "tokens"])
    assert code == 2
    assert "connection refused" in capsys.readouterr().err


def test_cli_write_to_an_offline_device_reports_it_stored(peer_factory, capsys):
    peer = peer_factory(scripted({
        Command.LOGIN: lambda i, b: ok(i),
        Command.HARDWARE: lambda i, b: status(i, Status.DEVICE_NOT_IN_NETWORK),
    }))
    assert run_cli(peer, "write", "V1", "1", "2", "--device", "3") == 0
    assert capsys.readouterr().out == "stored; device 1-3 offline\n"
    assert peer.received[-1][3] == "1-3\0vw\x001\x001\x002"


def test_cli_sync_and_tokens_print_readable_lines(peer_factory, capsys):
    profile = {"dashBoards": [{"id": 1, "name": "Home", "devices": [{"id": 0, "name": "Kitchen", "token": TOKEN}]}]}
    peer = peer_factory(scripted({
        Command.LOGIN: lambda i, b: ok(i),
        Command.LOAD_PROFILE_GZIPPED: lambda i, b: profile_reply(i, profile),
        Command.APP_SYNC: lambda i, b: ok(i) + message(Command.APP_SYNC, 1111, "1-0\0vw\x0013\x0042"),
    }))
    assert run_cli(peer, "sync") == 0
    assert capsys.readouterr().out == "1-0 V13 42\n"
    # Connection options may also follow the subcommand.
    assert main(["sync", "--port", str(peer.port), "--no-tls", "--email", EMAIL, "--password", "1"]) == 0
    assert capsys.readouterr().out == "1-0 V13 42\n"
    assert run_cli(peer, "tokens") == 0
    assert capsys.readouterr().out == f"1-0\t{TOKEN}\tHome / Kitchen\n"


def test_cli_watch_prints_pushes_until_the_time_is_up(peer_factory, capsys):
    def login(i, body):
        return (ok(i) + message(Command.HARDWARE_CONNECTED, 1, "1-0")
                + message(Command.HARDWARE, 4, "1-0\0vw\x001\x0042")
                + message(Command.HARDWARE, 4, "2-0\0vw\x001\x007")
                + message(Command.DEVICE_OFFLINE, 0, "1-0"))
    peer = peer_factory(scripted({Command.LOGIN: login}))
    started = time.monotonic()
    assert run_cli(peer, "watch", "--dash", "1", "--seconds", "0.5") == 0
    assert time.monotonic() - started < 3
    assert capsys.readouterr().out.splitlines() == [
        "HARDWARE_CONNECTED 1-0", "1-0 V1 42", "DEVICE_OFFLINE 1-0"]
