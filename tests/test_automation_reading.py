"""Reading widgets (spec/commands.md §4.12): a display with a `frequency` makes the server ask a real
blynklib device for the pin (`BLYNK_READ`, msg id 7778) while an app is connected, and the answer
reaches the app."""
import time


from automation_support import PASSWORD, WAIT, LibDevice, Project, app_frames, make
from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status

DISPLAY = {"type": "DIGIT4_DISPLAY", "id": 30, "x": 0, "y": 0, "width": 1, "height": 1, "deviceId": 0,
           "pinType": "VIRTUAL", "pin": 5, "frequency": 1000}


def reads_within(device, seconds):
    found, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        pin = device.next_read(max(0.05, deadline - time.monotonic()))
        if pin is not None:
            found.append(pin)
    return found


def test_a_value_display_polls_its_device_while_an_app_is_connected(make):
    server = make()
    project = Project(server, [DISPLAY, dict(DISPLAY, id=31, y=1, pin=6, frequency=0)])
    device = LibDevice(server, project.tokens[0], answer=lambda pin: 20 + int(pin))
    try:
        assert device.connected()
        assert device.next_read() == 5
        [(_, _, body)] = app_frames(project.app, Command.HARDWARE)
        assert body == b"1-0\0vw\x005\x0025"
        assert set(reads_within(device, 2.5)) == {5}         # about once a second, never V6 (no frequency)
        project.app.close()                                  # no app: no more reads
        time.sleep(0.3)
        assert reads_within(device, 2.2) == []
    finally:
        device.close()


def test_reading_without_an_app_when_allowed_and_never_on_an_inactive_dashboard(make):
    server = make(allow_reading_widget_without_active_app="true")
    project = Project(server, [DISPLAY])
    device = LibDevice(server, project.tokens[0], answer=lambda pin: 1)
    try:
        assert device.connected()
        project.app.close()
        assert device.next_read() == 5
        app = AppClient(server.host, server.app_port, timeout=WAIT)
        assert app.login(project.email, PASSWORD) == Status.OK
        assert app.request(Command.DEACTIVATE_DASHBOARD, b"1")[2] == Status.OK
        time.sleep(0.3)
        reads_within(device, 0.2)
        assert reads_within(device, 2.2) == []
        app.close()
    finally:
        device.close()


def test_a_device_tiles_template_display_polls_the_tile_device(make):
    server = make()
    inner = dict(DISPLAY, id=62, deviceId=-1, pin=9, frequency=1000)
    tiles = {"type": "DEVICE_TILES", "id": 60, "x": 0, "y": 0, "width": 8, "height": 4,
             "templates": [{"id": 7, "name": "sensor", "widgets": [inner], "deviceIds": [0]}],
             "tiles": [{"deviceId": 0, "templateId": 7}]}
    project = Project(server, [tiles])
    device = LibDevice(server, project.tokens[0], answer=lambda pin: 3)
    try:
        assert device.connected()
        assert device.next_read() == 9
    finally:
        device.close()
        project.close()
