"""App export ("Publisher", spec/app.md §3): exported apps, faces, and the flashed-token commands that
upstream answers from PostgreSQL, here answered as upstream does when the database does not hold them."""
import json
import re
import zlib

import pytest

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, RawClient, new_account

OK, ILLEGAL, NOT_ALLOWED, BODY, NOTIFICATION_ERROR = 200, 2, 6, 11, 15
CREATE_DASH, CREATE_WIDGET, LOAD_PROFILE = 21, 33, 24
UPDATE_FACE, CREATE_APP, UPDATE_APP, DELETE_APP, GET_PROJECT_BY_TOKEN, EMAIL_QR = 51, 55, 56, 57, 58, 59
REDEEM, ASSIGN_TOKEN = 3, 39
APP = {"theme": "Blynk", "provisionType": "DYNAMIC", "color": 0, "isMultiFace": False, "name": "My App",
       "icon": "myIcon", "projectIds": [2]}
BUTTON = {"type": "BUTTON", "id": 1, "x": 0, "y": 0, "width": 1, "height": 1, "label": "parent", "pin": 1,
          "pinType": "VIRTUAL"}


@pytest.fixture
def app(server):
    email = new_account(server)
    client = AppClient(server.host, server.app_port, timeout=WAIT)
    assert client.login(email, PASSWORD) == OK
    client.server, client.email = server, email
    assert client.request(CREATE_DASH, json.dumps({"id": 1, "name": "parent"}))[2] == OK
    assert client.request(CREATE_WIDGET, f"1\0{json.dumps(BUTTON)}")[2] == OK
    assert client.request(CREATE_DASH, json.dumps({"id": 2, "name": "face", "parentId": 1}))[2] == OK
    yield client
    client.close()


def profile(client):
    return json.loads(zlib.decompress(client.request(LOAD_PROFILE, "")[2]))


def create_app(client, data=APP):
    command, _, payload = client.request(CREATE_APP, json.dumps(data))
    assert command == CREATE_APP, (command, payload)
    return json.loads(payload)


def test_create_update_delete_an_exported_app(app):
    created = create_app(app)
    assert re.fullmatch(r"blynk[A-Za-z0-9]{8}", created["id"])
    assert {k: created[k] for k in APP} == APP
    assert profile(app)["apps"] == [created]
    assert app.request(UPDATE_APP, json.dumps({**APP, "id": created["id"], "name": "Renamed"}))[2] == OK
    assert profile(app)["apps"][0]["name"] == "Renamed"
    assert app.request(UPDATE_APP, json.dumps({**APP, "id": "blynkNOPE0000"}))[2] == NOT_ALLOWED
    assert app.request(DELETE_APP, created["id"])[2] == OK
    after = profile(app)
    assert "apps" not in after and [d["id"] for d in after["dashBoards"]] == [1]   # its project went with it
    assert app.request(DELETE_APP, created["id"])[2] == NOT_ALLOWED


@pytest.mark.parametrize("body, status", [
    ("", ILLEGAL),
    ("{bad", BODY),
    (json.dumps({**APP, "name": ""}), NOT_ALLOWED),
    (json.dumps({k: v for k, v in APP.items() if k != "theme"}), NOT_ALLOWED),
    (json.dumps({k: v for k, v in APP.items() if k != "projectIds"}), NOT_ALLOWED),
])
def test_invalid_apps_are_refused(app, body, status):
    assert app.request(CREATE_APP, body)[2] == status
    assert "apps" not in profile(app)


def test_update_face_copies_the_parent_to_its_faces(app):
    assert app.request(UPDATE_FACE, "1")[2] == NOT_ALLOWED           # no app exports a face of it yet
    create_app(app)
    assert app.request(UPDATE_FACE, "1")[2] == OK
    face = next(d for d in profile(app)["dashBoards"] if d["id"] == 2)
    assert face["name"] == "parent"
    assert [(w["id"], w["label"], w["isDefaultColor"]) for w in face["widgets"]] == [(1, "parent", False)]
    assert app.request(UPDATE_FACE, "99")[2] == ILLEGAL


def test_email_qr_needs_a_database_of_flashed_tokens(app):
    created = create_app(app)
    assert app.request(EMAIL_QR, f"2\0{created['id']}")[2] == NOTIFICATION_ERROR
    assert app.request(EMAIL_QR, "2\0blynkNOPE0000")[2] == BODY
    static = create_app(app, {**APP, "provisionType": "STATIC"})
    assert app.request(EMAIL_QR, f"2\0{static['id']}")[2] == BODY      # a static app needs devices


def test_flashed_token_commands_without_a_database(app):
    token = "A" * 32
    assert app.request(REDEEM, "some-code")[2] == NOT_ALLOWED
    assert app.request(ASSIGN_TOKEN, f"1\0{token}")[2] == NOT_ALLOWED
    assert app.request(ASSIGN_TOKEN, f"9\0{token}")[2] == ILLEGAL
    assert app.request(GET_PROJECT_BY_TOKEN, token)[2] == NOT_ALLOWED


def test_the_publisher_profile_load_is_unanswered_without_a_database(app):
    with RawClient(app.server.host, app.server.app_port, tls=True, app_framing=True) as raw:
        from blynklite.client import password_hash
        raw.send(2, f"{app.email}\0{password_hash(PASSWORD, app.email)}", msg_id=1)
        assert raw.receive() == (0, 1, OK)
        raw.send(LOAD_PROFILE, f"{'A' * 32}\0" f"1\0{app.email}", msg_id=2)
        assert raw.barrier() == []                         # upstream: no flashed token, no reply


@pytest.mark.parametrize("provision, with_token", [("DYNAMIC", True), ("STATIC", False)])
def test_a_new_account_of_an_exported_app_gets_its_project(app, provision, with_token):
    assert app.request(42, "1\0" + json.dumps({"id": 0, "name": "board", "boardType": "ESP8266"}))[0] == 42
    exported = create_app(app, {**APP, "provisionType": provision, "projectIds": [1]})
    email = "end-user@example.com"
    with AppClient(app.server.host, app.server.app_port, timeout=WAIT) as user:
        assert user.register(email, "pw", app_name=exported["id"]) == OK
    with AppClient(app.server.host, app.server.app_port, timeout=WAIT) as user:
        assert user.login(email, "pw", app_name=exported["id"]) == OK
        dashes = profile(user)["dashBoards"]
    assert [d["id"] for d in dashes] == [1] and dashes[0]["isActive"] is True
    assert [w["label"] for w in dashes[0]["widgets"]] == ["parent"]
    token = dashes[0]["devices"][0].get("token")
    assert (token is not None and len(token) == 32) is with_token
