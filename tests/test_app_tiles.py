"""Device Tiles from the app (spec/app.md §3, §4.7): tile templates, widgets inside templates through
the 4-field CREATE_WIDGET and the 2-field UPDATE/DELETE_WIDGET, tile values written by a blynklib
device and replayed by APP_SYNC, and the template form of EMAIL."""
import json
import zlib

import pytest

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, app_barrier, new_account, wait_until
from test_device_libraries import BlynklibDevice, DeviceRunner

OK, ILLEGAL, NOT_ALLOWED = 200, 2, 6
ACTIVATE, EMAIL, SET_WIDGET_PROPERTY, APP_SYNC = 7, 13, 19, 25
CREATE_WIDGET, UPDATE_WIDGET, DELETE_WIDGET, GET_ENERGY, LOAD_PROFILE = 33, 34, 35, 36, 24
CREATE_TEMPLATE, UPDATE_TEMPLATE, DELETE_TEMPLATE = 67, 68, 69
TILES = {"type": "DEVICE_TILES", "id": 10, "x": 0, "y": 0, "width": 8, "height": 8}
TEMPLATE = {"id": 1, "name": "Heater", "deviceIds": [0], "pin": {"pin": 5, "pinType": "VIRTUAL"}}
GAUGE = {"type": "GAUGE", "id": 20, "x": 0, "y": 0, "width": 2, "height": 2, "pinType": "VIRTUAL", "pin": 5}
GAUGE_PRICE = 300


@pytest.fixture
def app(server):
    email = new_account(server)
    client = AppClient(server.host, server.app_port, timeout=WAIT)
    assert client.login(email, PASSWORD) == OK
    client.server = server
    client.dash_id, _, client.token = client.new_device("d")
    assert client.request(CREATE_WIDGET, f"{client.dash_id}\0{json.dumps(TILES)}")[2] == OK
    yield client
    client.close()


def tiles_of(app):
    profile = json.loads(zlib.decompress(app.request(LOAD_PROFILE, "")[2]))
    dash = next(d for d in profile["dashBoards"] if d["id"] == app.dash_id)
    return next(w for w in dash["widgets"] if w["id"] == 10), profile


def template_request(app, command, template, tiles_id=10):
    return app.request(command, f"{app.dash_id}\0{tiles_id}\0{json.dumps(template)}")[2]


def test_templates_make_one_tile_per_device(app):
    assert template_request(app, CREATE_TEMPLATE, TEMPLATE) == OK
    tiles, _ = tiles_of(app)
    assert tiles["templates"][0]["templateId"] == "TMPL1"
    assert tiles["tiles"] == [{"deviceId": 0, "templateId": 1, "pin": {     # a data stream as Java writes it
        "pin": 5, "pwmMode": False, "rangeMappingOn": False, "pinType": "VIRTUAL", "min": 0.0, "max": 0.0}}]
    assert template_request(app, CREATE_TEMPLATE, TEMPLATE) == NOT_ALLOWED           # same id
    assert template_request(app, UPDATE_TEMPLATE, {**TEMPLATE, "name": "Boiler", "deviceIds": [0, 1]}) == OK
    tiles, _ = tiles_of(app)
    assert tiles["templates"][0]["name"] == "Boiler"
    assert sorted(t["deviceId"] for t in tiles["tiles"]) == [0, 1]
    assert template_request(app, UPDATE_TEMPLATE, {**TEMPLATE, "id": 9}) == ILLEGAL   # unknown template
    assert app.request(DELETE_TEMPLATE, f"{app.dash_id}\0" "10\0" "1")[2] == OK
    tiles, _ = tiles_of(app)
    assert tiles.get("templates", []) == [] and tiles.get("tiles", []) == []     # Jackson omits empty lists


def test_template_commands_need_a_device_tiles_widget(app):
    button = {"type": "BUTTON", "id": 11, "x": 0, "y": 9, "width": 1, "height": 1}
    assert app.request(CREATE_WIDGET, f"{app.dash_id}\0{json.dumps(button)}")[2] == OK
    assert template_request(app, CREATE_TEMPLATE, TEMPLATE, tiles_id=11) == ILLEGAL
    assert template_request(app, CREATE_TEMPLATE, TEMPLATE, tiles_id=99) == ILLEGAL
    assert app.request(CREATE_TEMPLATE, f"{app.dash_id}\0" "10\0" "{bad")[2] == 11


def energy(app):
    return int(app.request(GET_ENERGY)[2])


def test_widgets_inside_a_template(app):
    assert template_request(app, CREATE_TEMPLATE, TEMPLATE) == OK
    before = energy(app)
    assert app.request(CREATE_WIDGET, f"{app.dash_id}\0" "10\0" f"1\0{json.dumps(GAUGE)}")[2] == OK
    assert energy(app) == before - GAUGE_PRICE
    assert app.request(CREATE_WIDGET, f"{app.dash_id}\0{json.dumps(GAUGE)}")[2] == NOT_ALLOWED   # id taken in tiles
    assert app.request(UPDATE_WIDGET, f"{app.dash_id}\0{json.dumps({**GAUGE, 'label': 'T'})}")[2] == OK
    assert app.request(SET_WIDGET_PROPERTY, f"{app.dash_id}\0" "20\0color\0#FF0000")[2] == OK
    tiles, _ = tiles_of(app)
    inside = tiles["templates"][0]["widgets"][0]
    assert (inside["id"], inside["label"], inside["isDefaultColor"]) == (20, "T", False)
    assert app.request(DELETE_WIDGET, f"{app.dash_id}\0" "20")[2] == OK
    assert energy(app) == before
    assert tiles_of(app)[0]["templates"][0].get("widgets", []) == []


def test_a_device_write_updates_its_tile_and_app_sync_replays_it(app):
    assert template_request(app, CREATE_TEMPLATE, TEMPLATE) == OK
    app.request(ACTIVATE, str(app.dash_id))
    device = BlynklibDevice(app.server.host, app.server.hw_port, app.token)
    runner = DeviceRunner(device).start()
    try:
        wait_until(device.is_connected, "blynklib connected")
        app_barrier(app)
        runner.call(lambda: device.virtual_write(5, "21.5"))
        assert app.wait_for(lambda m: m[0] == 20 and m[2].endswith(b"vw\x005\x0021.5"), WAIT)
    finally:
        runner.stop()
    tiles, profile = tiles_of(app)
    assert tiles["tiles"][0]["pin"]["value"] == "21.5"
    assert not any(k.endswith("v5") for k in profile.get("pinsStorage", {}))
    replies = app.sync(app.dash_id)
    assert (APP_SYNC, 1111, f"{app.dash_id}-0\0vw\0" "5\0" "21.5".encode()) in replies[1:]
    assert template_request(app, UPDATE_TEMPLATE, {**TEMPLATE, "deviceIds": [0, 1]}) == OK
    kept = [t for t in tiles_of(app)[0]["tiles"] if t["deviceId"] == 0]
    assert kept[0]["pin"]["value"] == "21.5"          # the tile of device 0 keeps its value


def test_the_template_mail(tmp_path):
    pytest.importorskip("aiosmtpd")
    from test_notifications import mail_properties, smtp_server, start_server
    with smtp_server(tmp_path) as smtp:
        server = start_server(tmp_path, {"mail.properties": mail_properties(smtp)})
        try:
            email = new_account(server)
            with AppClient(server.host, server.app_port, timeout=WAIT) as client:
                assert client.login(email, PASSWORD) == OK
                dash, _, _ = client.new_device("d")
                assert client.request(CREATE_WIDGET, f"{dash}\0{json.dumps(TILES)}")[2] == OK
                assert client.request(CREATE_TEMPLATE, f"{dash}\0" f"10\0{json.dumps(TEMPLATE)}")[2] == OK
                assert client.request(EMAIL, f"template\0{dash}\0" "10\0" "1")[2] == OK
                assert client.request(EMAIL, f"template\0{dash}\0" "10\0" "7")[2] == ILLEGAL
            _, recipients, message = smtp.mailbox.next()
            assert recipients == [email] and message["Subject"] == "Template ID for Heater"
            assert "TMPL1" in message.get_content()
        finally:
            server.stop()
