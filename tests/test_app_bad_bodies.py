"""Bad bodies for the app commands of issue 11 get a status or upstream's silence, never a traceback:
each malformed request below is sent on a logged-in TLS connection, the connection keeps answering,
and the server log holds no handler failure."""
import itertools
import json

import pytest

from blynklite.client import password_hash
from devices import PASSWORD, RawClient, new_account

OK = 200
CODES = (3, 13, 19, 26, 30, 31, 39, 46, 47, 48, 49, 51, 55, 56, 57, 58, 59, 62, 63, 65, 67, 68, 69, 70, 74, 24, 33,
         34, 35)
BODIES = (
    "", "\0", "\0\0\0", "1", "1\0", "1\0\0", "x\0y", "-1", "99999999999999999999", "1\0-1", "1\0x\0y\0z",
    "1\0{", "1\0[]", "1\0null", "1\0\"text\"", "1\0" "10\0" "1\0{", "1\0" "10\0x\0{}", "template\0" "1\0x\0y",
    "1\0" + json.dumps({"id": "x", "name": 5, "deviceIds": "no"}),
    "1\0" + json.dumps({"id": 100000, "name": "t", "deviceIds": [1.5, None]}),
    "1\0" "10\0" + json.dumps({"id": "z", "deviceIds": {}, "widgets": "w", "pin": 5}),
    json.dumps({"theme": 1, "provisionType": [], "name": {}, "projectIds": "x"}),
    "1-0\0vw\0" "999\0x", "1-x\0vw\0" "1\0" "1", "1-0\0zz\0" "1\0" "1",
    "\udcff", "1\0" + "A" * 32, "../" * 11,
)


@pytest.fixture
def logged_in(make_server):
    server = make_server(user_message_quota_limit=100000)
    email = new_account(server)
    client = RawClient(server.host, server.app_port, tls=True, app_framing=True)
    client.send(2, f"{email}\0{password_hash(PASSWORD, email)}", msg_id=1)
    assert client.receive() == (0, 1, OK)
    client.send(21, json.dumps({"id": 1, "name": "p", "widgets": [
        {"type": "DEVICE_TILES", "id": 10, "x": 0, "y": 0, "width": 8, "height": 8,
         "templates": [{"id": 1, "name": "T", "deviceIds": [0], "widgets": []}]}]}), msg_id=2)
    assert client.receive() == (0, 2, OK)
    yield server, client
    client.close()


def test_malformed_bodies_never_reach_a_traceback(logged_in):
    server, client = logged_in
    for msg_id, (code, body) in enumerate(itertools.product(CODES, BODIES), start=10):
        client.send(code, body.encode("utf-8", "surrogateescape"), msg_id=msg_id % 60000 + 10)
        if msg_id % 50 == 0:
            client.barrier()
    client.barrier()
    log = server.log_text()
    assert "Traceback" not in log and " failed\n" not in log, log[log.find("Traceback") - 300:][:3000]
