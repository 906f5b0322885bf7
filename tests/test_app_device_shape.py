"""Devices as the Java server writes them: upstream's Device fields in their declaration order (Jackson's
order), every field kept, in LOAD_PROFILE_GZIPPED, GET_DEVICES and the profile file on disk."""
import json
import zlib

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, new_account, wait_until
from test_device_libraries import BlynklibDevice, DeviceRunner

OK, CREATE_DASH, CREATE_DEVICE, GET_DEVICES, LOAD_PROFILE = 200, 21, 42, 45, 24
JAVA_ORDER = ["id", "name", "boardType", "address", "token", "vendor", "connectionType", "status",
              "disconnectTime", "connectTime", "firstConnectTime", "dataReceivedAt", "lastLoggedIP",
              "hardwareInfo", "deviceOtaInfo", "iconName", "isUserIcon"]
SENT = {"id": 0, "name": "Pump", "boardType": "ESP32", "address": "AA:BB", "vendor": "Espressif",
        "connectionType": "WI_FI", "iconName": "pump", "isUserIcon": True, "myField": 5}


def in_java_order(keys, expected_extra=()):
    known = [k for k in keys if k in JAVA_ORDER]
    assert known == sorted(known, key=JAVA_ORDER.index), keys
    assert keys[len(known):] == list(expected_extra)      # fields upstream does not know come last


def test_device_fields_in_java_order_everywhere(server):
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == OK
        assert app.request(CREATE_DASH, json.dumps({"id": 1, "name": "b"}))[2] == OK
        created = json.loads(app.request(CREATE_DEVICE, f"1\0{json.dumps(SENT)}")[2])
        in_java_order(list(created), ["myField"])
        token = created["token"]
        device = BlynklibDevice(server.host, server.hw_port, token)
        runner = DeviceRunner(device).start()
        try:
            wait_until(device.is_connected, "blynklib connected")
            profile = json.loads(zlib.decompress(app.request(LOAD_PROFILE, "")[2]))
            loaded = profile["dashBoards"][0]["devices"][0]
            in_java_order(list(loaded), ["myField"])
            for key in ("address", "token", "vendor", "connectionType", "status", "connectTime",
                        "firstConnectTime", "lastLoggedIP", "iconName", "isUserIcon"):
                assert key in loaded, key                            # every field kept
            in_java_order(list(json.loads(app.request(GET_DEVICES, "1")[2])[0]), ["myField"])
        finally:
            runner.stop()
    server.stop()
    saved = json.loads(next(server.data_dir.rglob(f"{email}.Blynk.user")).read_text())
    in_java_order(list(saved["profile"]["dashBoards"][0]["devices"][0]), ["myField"])
    server.start()
