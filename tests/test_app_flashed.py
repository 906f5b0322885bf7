"""App export with `enable.db` against a real PostgreSQL cluster and a real SMTP server: EMAIL_QR stores
flashed tokens and mails them as QR codes, GET_PROJECT_BY_TOKEN and the publisher profile load return the
exported project, ASSIGN_TOKEN gives a flashed token to a device once (a device then logs in with it),
REDEEM adds a code's energy once."""
import json
import re
import zlib

import pytest

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, app_barrier, device, new_account

pytest.importorskip("psycopg2")
pytest.importorskip("aiosmtpd")

from postgres_support import cluster, db_properties  # noqa: E402
from test_app_reset import mail_with_subject  # noqa: E402
from test_notifications import mail_properties, smtp_server, start_server  # noqa: E402

OK, NOT_ALLOWED = 200, 6
REDEEM, ASSIGN_TOKEN, LOAD_PROFILE, GET_ENERGY, GET_PROJECT_BY_TOKEN, EMAIL_QR = 3, 39, 24, 36, 58, 59
CREATE_APP = 55
BUTTON = {"type": "BUTTON", "id": 1, "x": 0, "y": 0, "width": 1, "height": 1, "label": "pump", "pin": 1,
          "pinType": "VIRTUAL"}
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


@pytest.fixture
def exported(tmp_path, cluster):
    """A publisher with project 1 (a button, device 0) exported as a STATIC app, on a server with the database."""
    with smtp_server(tmp_path) as smtp:
        server = start_server(tmp_path, {"mail.properties": mail_properties(smtp), "db.properties": db_properties(cluster)},
                              **{"enable.db": "true"})
        try:
            email = new_account(server)
            publisher = AppClient(server.host, server.app_port, timeout=WAIT)
            assert publisher.login(email, PASSWORD) == OK
            assert publisher.request(21, json.dumps({"id": 1, "name": "Pump house", "widgets": [BUTTON]}))[2] == OK
            assert publisher.request(42, "1\0" + json.dumps({"id": 0, "name": "board", "boardType": "ESP8266"}))[0] == 42
            app = {"theme": "Blynk", "provisionType": "STATIC", "color": 0, "name": "Pumps", "projectIds": [1]}
            command, _, payload = publisher.request(CREATE_APP, json.dumps(app))
            assert command == CREATE_APP
            yield {"server": server, "smtp": smtp, "cluster": cluster, "publisher": publisher, "email": email,
                   "app_id": json.loads(payload)["id"]}
            publisher.close()
        finally:
            server.stop()


def end_user(env, email="end-user@example.com"):
    server = env["server"]
    with AppClient(server.host, server.app_port, timeout=WAIT) as registering:
        assert registering.register(email, "pw", app_name=env["app_id"]) in (OK, 4)
    client = AppClient(server.host, server.app_port, timeout=WAIT)
    assert client.login(email, "pw", app_name=env["app_id"]) == OK
    return client


def test_email_qr_get_project_assign_token_and_the_device_login(exported):
    env = exported
    publisher, server = env["publisher"], env["server"]
    assert publisher.request(EMAIL_QR, f"1\0{env['app_id']}")[2] == OK
    message = mail_with_subject(env["smtp"], "Pumps - App details")[2]
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["Pump house_1_0.png"]
    token = TOKEN.search(message.get_body(("html", "plain")).get_content()).group(0)
    rows = env["cluster"].query("SELECT app_name, email, project_id, device_id, is_activated FROM flashed_tokens "
                                "WHERE token = %s", (token,), dbname="blynk")
    assert rows == [(env["app_id"], env["email"], 1, 0, False)]

    user = end_user(env)
    try:
        command, _, payload = user.request(GET_PROJECT_BY_TOKEN, token)
        project = json.loads(zlib.decompress(payload))
        assert command == GET_PROJECT_BY_TOKEN and project["id"] == 1 and project["widgets"][0]["label"] == "pump"
        assert all("token" not in d for d in project["devices"])
        assert user.request(GET_PROJECT_BY_TOKEN, "B" * 32)[2] == NOT_ALLOWED
        command, _, payload = user.request(LOAD_PROFILE, f"{token}\0" f"1\0{env['email']}\0Blynk")
        assert command == LOAD_PROFILE and json.loads(zlib.decompress(payload))["name"] == "Pump house"
        assert user.request(ASSIGN_TOKEN, f"1\0{token}")[2] == OK
        assert user.request(ASSIGN_TOKEN, f"1\0{token}")[2] == NOT_ALLOWED          # activated once
        assert user.request(ASSIGN_TOKEN, f"1\0{'C' * 32}")[2] == NOT_ALLOWED
        with device(server) as hw:
            assert hw.login(token) == OK                                            # the flashed device is in
        assert env["cluster"].query("SELECT is_activated FROM flashed_tokens WHERE token = %s", (token,),
                                    dbname="blynk") == [(True,)]
    finally:
        user.close()


def test_a_publisher_profile_load_for_an_unknown_token_gets_no_reply(exported):
    env = exported
    user = end_user(env, "quiet@example.com")
    try:
        user.send(LOAD_PROFILE, f"{'D' * 32}\0" f"1\0{env['email']}")
        assert app_barrier(user) == []
    finally:
        user.close()


def test_redeem_adds_energy_once_per_code(exported):
    env = exported
    env["cluster"].query("INSERT INTO redeem (token, company, reward) VALUES (%s, 'test', 500)", ("R" * 32,),
                         dbname="blynk")
    publisher = env["publisher"]
    before = int(publisher.request(GET_ENERGY)[2])
    assert publisher.request(REDEEM, "R" * 32)[2] == OK
    assert int(publisher.request(GET_ENERGY)[2]) == before + 500
    assert publisher.request(REDEEM, "R" * 32)[2] == OK                       # the same account: OK, no more
    assert int(publisher.request(GET_ENERGY)[2]) == before + 500
    other = end_user(env, "other@example.com")
    try:
        assert other.request(REDEEM, "R" * 32)[2] == NOT_ALLOWED
        assert other.request(REDEEM, "E" * 32)[2] == NOT_ALLOWED
    finally:
        other.close()
