"""Single widgets from the app (spec/app.md §3, §4.12): GET_WIDGET, SET_WIDGET_PROPERTY sent by the
app, and HARDWARE_RESEND_FROM_BLUETOOTH (a value a Bluetooth device gave the phone, stored)."""
import json
import zlib

import pytest

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, app_barrier, device, new_account

OK, ILLEGAL, BODY = 200, 2, 11
ACTIVATE, SET_WIDGET_PROPERTY, CREATE_WIDGET, LOAD_PROFILE, GET_WIDGET, RESEND = 7, 19, 33, 24, 70, 65
APP_SYNC = 25
BUTTON = {"type": "BUTTON", "id": 1, "x": 0, "y": 0, "width": 1, "height": 1, "label": "b",
          "pinType": "VIRTUAL", "pin": 3, "deviceId": 0}
NOTIFICATION = {"type": "NOTIFICATION", "id": 2, "x": 0, "y": 1, "width": 1, "height": 1}


@pytest.fixture
def app(server):
    email = new_account(server)
    client = AppClient(server.host, server.app_port, timeout=WAIT)
    assert client.login(email, PASSWORD) == OK
    client.server = server
    client.dash_id, _, client.token = client.new_device("d")
    for widget in (BUTTON, NOTIFICATION):
        assert client.request(CREATE_WIDGET, f"{client.dash_id}\0{json.dumps(widget)}")[2] == OK
    assert client.request(27, f"{client.dash_id}\0uid-1\0push-token-1")[2] == OK     # a push token
    yield client
    client.close()


def widget_in_profile(app, widget_id):
    profile = json.loads(zlib.decompress(app.request(LOAD_PROFILE, "")[2]))
    dash = next(d for d in profile["dashBoards"] if d["id"] == app.dash_id)
    return next(w for w in dash["widgets"] if w["id"] == widget_id)


def test_get_widget_returns_the_widget_without_private_fields(app):
    command, _, payload = app.request(GET_WIDGET, f"{app.dash_id}\0" "1")
    widget = json.loads(payload)
    assert command == GET_WIDGET and widget["type"] == "BUTTON" and widget["pin"] == 3
    notification = json.loads(app.request(GET_WIDGET, f"{app.dash_id}\0" "2")[2])
    assert "androidTokens" not in notification
    assert widget_in_profile(app, 2)["androidTokens"] == {"uid-1": "push-token-1"}   # the owner still has it
    assert app.request(GET_WIDGET, f"{app.dash_id}\0" "99")[2] == ILLEGAL
    assert app.request(GET_WIDGET, f"{app.dash_id}\0x")[2] == ILLEGAL


def test_set_widget_property_changes_the_widget_and_reaches_no_device(app):
    assert app.request(ACTIVATE, str(app.dash_id))
    with device(app.server) as hw:
        assert hw.login(app.token) == OK
        hw.barrier()
        app_barrier(app)
        assert app.request(SET_WIDGET_PROPERTY, f"{app.dash_id}\0" "1\0label\0Pump")[2] == OK
        assert app.request(SET_WIDGET_PROPERTY, f"{app.dash_id}\0" "1\0color\0#23C48E")[2] == OK
        assert app.request(SET_WIDGET_PROPERTY, f"{app.dash_id}\0" "1\0onLabel\0ON")[2] == OK
        widget = widget_in_profile(app, 1)
        assert (widget["label"], widget["color"], widget["isDefaultColor"], widget["onLabel"]) == \
               ("Pump", 600084223, False, "ON")
        assert hw.barrier() == []                                  # not forwarded to the device


@pytest.mark.parametrize("body, status", [
    ("1\0label", BODY),                          # three fields
    ("1\0label\0a\0b", BODY),                    # five fields
    ("1\0\0a", BODY),                            # empty property
    ("1\0label\0", BODY),                        # empty value
    ("1\0noSuchProperty\0a", BODY),
    ("2\0min\0" "1", BODY),                      # Notification has no min
    ("99\0label\0a", ILLEGAL),                   # no such widget
    ("1\0min\0abc", ILLEGAL),                    # not a number
])
def test_set_widget_property_refusals(app, body, status):
    assert app.request(SET_WIDGET_PROPERTY, f"{app.dash_id}\0{body}")[2] == status
    assert widget_in_profile(app, 1)["label"] == "b"


def test_a_bluetooth_relay_is_stored_without_a_reply(app):
    dash = app.dash_id
    app.send(RESEND, f"{dash}-0\0vw\0" "9\0" "42")
    app.send(RESEND, f"{dash}-0\0vw\0" "3\0" "1")        # the button on V3 takes this one
    assert app_barrier(app) == []
    replies = app.sync(dash)
    assert replies[0][2] == OK
    bodies = {p.decode() for c, _, p in replies[1:] if c == APP_SYNC}
    assert f"{dash}-0\0vw\0" "9\0" "42" in bodies
    assert widget_in_profile(app, 1)["value"] == "1"
    assert app.request(RESEND, f"{dash}-0\0vw\0" "9\0")[2] == ILLEGAL              # no value
    assert app.request(RESEND, "99-0\0vw\0" "9\0" "1")[2] == ILLEGAL               # unknown dash
