"""Widgets as the Java server writes them (spec/app.md §4.5, §5): every declared field with its default,
in LOAD_PROFILE_GZIPPED, GET_WIDGET, the profile file on disk and HTTP /{token}/project."""
import json
import urllib.error
import urllib.request
import zlib

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, new_account

OK, CREATE_DASH, CREATE_WIDGET, LOAD_PROFILE, GET_WIDGET = 200, 21, 33, 24, 70

# The button of upstream's MainWorkflowTest as the app sends it, and as the Java server writes it back.
SENT = {"type": "BUTTON", "id": 1, "x": 0, "y": 0, "width": 1, "height": 1, "label": "Some Text",
        "isDefaultColor": False, "pinType": "DIGITAL", "pin": 1}
JAVA = ('{"type":"BUTTON","id":1,"x":0,"y":0,"color":0,"width":1,"height":1,"tabId":0,"label":"Some Text",'
        '"isDefaultColor":false,"deviceId":0,"pinType":"DIGITAL","pin":1,"pwmMode":false,"rangeMappingOn":false,'
        '"min":0.0,"max":0.0,"pushMode":false}')
RGB_SENT = {"type": "RGB", "id": 2, "x": 1, "y": 0, "width": 2, "height": 2, "splitMode": True,
            "pins": [{"pin": 5, "pinType": "VIRTUAL"}]}
RGB_JAVA = {"type": "RGB", "id": 2, "x": 1, "y": 0, "color": 0, "width": 2, "height": 2, "tabId": 0,
            "isDefaultColor": False, "deviceId": 0,
            "pins": [{"pin": 5, "pwmMode": False, "rangeMappingOn": False, "pinType": "VIRTUAL", "min": 0.0, "max": 0.0}],
            "splitMode": True, "sendOnReleaseOn": False, "frequency": 0}


def compact(data):
    return json.dumps(data, separators=(",", ":"))


def test_widgets_carry_every_java_field_everywhere(server):
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == OK
        assert app.request(CREATE_DASH, json.dumps({"id": 1, "name": "test board"}))[2] == OK
        assert app.request(CREATE_WIDGET, f"1\0{json.dumps(SENT)}")[2] == OK
        assert app.request(CREATE_WIDGET, f"1\0{json.dumps(RGB_SENT)}")[2] == OK
        dash_id, _, token = app.new_device("d", dash_id=1)
        profile = json.loads(zlib.decompress(app.request(LOAD_PROFILE, "")[2]))
        widgets = profile["dashBoards"][0]["widgets"]
        assert compact(widgets[0]) == JAVA                      # same fields, same order, 0.0 floats
        assert widgets[1] == RGB_JAVA
        assert app.request(GET_WIDGET, "1\0" "1")[2].decode() == JAVA
    with urllib.request.urlopen(f"http://{server.host}:{server.hw_port}/{token}/project", timeout=WAIT) as reply:
        assert compact(json.loads(reply.read())["widgets"][0]) == JAVA
    server.stop()
    saved = json.loads(next((server.data_dir).rglob(f"{email}.Blynk.user")).read_text())
    assert compact(saved["profile"]["dashBoards"][0]["widgets"][0]) == JAVA
    server.start()


def test_head_and_options_on_the_rest_api_are_404_as_upstream(server):
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == OK
        _, _, token = app.new_device("d")
    for method in ("HEAD", "OPTIONS"):
        request = urllib.request.Request(f"http://{server.host}:{server.hw_port}/{token}/project", method=method)
        try:
            urllib.request.urlopen(request, timeout=WAIT)
            status = 200
        except urllib.error.HTTPError as error:
            status = error.code
        assert status == 404, method
    with urllib.request.urlopen(f"http://{server.host}:{server.hw_port}/{token}/project", timeout=WAIT) as reply:
        assert reply.status == 200


def test_updated_at_is_left_alone_by_device_and_token_commands_as_upstream(server):
    """CREATE_DEVICE, DELETE_DEVICE and REFRESH_TOKEN change the account's lastModifiedTs only."""
    import time
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == OK
        assert app.request(CREATE_DASH, json.dumps({"id": 1, "name": "p"}))[2] == OK

        def updated_at():
            return json.loads(zlib.decompress(app.request(LOAD_PROFILE, "")[2]))["dashBoards"][0]["updatedAt"]
        before = updated_at()
        time.sleep(0.01)
        assert app.request(42, "1\0" + json.dumps({"id": 0, "name": "d", "boardType": "ESP8266"}))[0] == 42
        assert app.request(9, "1\0" "0")[0] == 9
        assert app.request(44, "1\0" "0")[2] == OK
        assert updated_at() == before
        assert app.request(CREATE_WIDGET, f"1\0{json.dumps(SENT)}")[2] == OK
        assert updated_at() > before                     # a widget change does set it
