"""Device Selector (`vu` from the app) and the Table widget's row model, against the real server with
blynklib devices and the app over TLS."""
import time


from automation_support import PASSWORD, WAIT, LibDevice, Project, make
from blynklite.client import AppClient
from blynklite.codec.commands import Command, Status

TABLE = {"type": "TABLE", "id": 50, "x": 0, "y": 0, "width": 4, "height": 4, "deviceId": 0,
         "pinType": "VIRTUAL", "pin": 10}
SELECTOR = {"type": "DEVICE_SELECTOR", "id": 200000, "x": 0, "y": 0, "width": 2, "height": 1, "value": 0,
            "deviceIds": [0, 1]}
DISPLAY = {"type": "DIGIT4_DISPLAY", "id": 51, "x": 0, "y": 1, "width": 1, "height": 1, "deviceId": 200000,
           "pinType": "VIRTUAL", "pin": 1}


def table_widget(project):
    return [w for w in project.app.load_profile()["dashBoards"][0]["widgets"] if w["id"] == 50][0]


def wait_rows(project, count):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        rows = table_widget(project).get("rows") or []
        if len(rows) == count:
            return rows
        time.sleep(0.1)
    return table_widget(project).get("rows")


def test_a_device_drives_the_table_rows_and_app_sync_replays_them(make):
    server = make(table_rows_pool_size=3)
    project = Project(server, [TABLE])
    device = LibDevice(server, project.tokens[0])
    try:
        assert device.connected()
        for command in (("add", 1, "Temp", 21), ("add", 2, "Hum", 40), ("update", 1, "Temp", 22),
                        ("deselect", 2), ("add", 3, "CO2", 600), ("order", 2, 0), ("pick", 1),
                        ("add", 4, "Lux", 90)):         # the fourth row pushes the oldest out (pool 3)
            device.virtual_write(10, *command)
            time.sleep(0.05)
        rows = wait_rows(project, 3)
        assert [(r["id"], r["name"], r["value"], r["isSelected"]) for r in rows] == [
            (1, "Temp", "22", True), (2, "Hum", "40", False), (4, "Lux", "90", True)]
        assert table_widget(project)["currentRowIndex"] == 1
        replies = project.app.sync(1)
        bodies = [body for command, _, body in replies[1:] if command == Command.APP_SYNC]
        assert (b"1-0\0vm\x0010\0add\x001\x00Temp\x0022\x00true\0add\x002\x00Hum\x0040\x00false"
                b"\0add\x004\x00Lux\x0090\x00true") in bodies
        device.virtual_write(10, "clr")
        assert wait_rows(project, 0) == []
    finally:
        device.close()
        project.close()


def test_invalid_table_json_is_refused(make):
    server = make()
    project = Project(server)
    try:
        assert project.add_widget(dict(TABLE, rows="none")) == Status.ILLEGAL_COMMAND_BODY
        assert project.add_widget(dict(TABLE, rows=[{"id": "one"}])) == Status.ILLEGAL_COMMAND_BODY
        assert project.add_widget(dict(TABLE, rows=[{"id": 1, "name": "a", "value": "b"}])) == Status.OK
    finally:
        project.close()


def test_the_device_selector_switch_syncs_the_selected_device_and_routes_writes_to_it(make):
    server = make()
    project = Project(server, [SELECTOR, DISPLAY], devices=2)
    first = LibDevice(server, project.tokens[0])
    second = LibDevice(server, project.tokens[1])
    other = AppClient(server.host, server.app_port, timeout=WAIT)
    try:
        assert first.connected() and second.connected()
        assert other.login(project.email, PASSWORD) == Status.OK
        second.virtual_write(1, "from-second")
        time.sleep(0.3)
        project.app.inbox.clear()
        reply = project.app.request(Command.HARDWARE, "1-200000\x00vu\x00200000\x001")
        assert reply[0] == Command.RESPONSE and reply[2] == Status.OK
        synced = project.app.wait_for(lambda m: m[0] == Command.APP_SYNC and m[2].startswith(b"1-1\0"), WAIT)
        assert synced is not None and synced[2] == b"1-1\0vw\x001\x00from-second"
        echo = other.wait_for(lambda m: m[0] == Command.APP_SYNC and b"vu" in m[2], WAIT)
        assert echo is not None and echo[2] == b"1-200000\0vu\x00200000\x001"
        project.app.write(1, 200000, "V2", "to-selected")
        assert second.next_write() == (2, ["to-selected"])
        assert first.next_write(0.5) is None
        selector = [w for w in project.app.load_profile()["dashBoards"][0]["widgets"] if w["id"] == 200000][0]
        assert selector["value"] == 1
    finally:
        other.close()
        first.close()
        second.close()
        project.close()


def test_the_terminal_pool_size_from_server_properties(make):
    server = make(terminal_strings_pool_size=2)
    terminal = {"type": "TERMINAL", "id": 52, "x": 0, "y": 2, "width": 4, "height": 2, "deviceId": 0,
                "pinType": "VIRTUAL", "pin": 20}
    project = Project(server, [terminal])
    device = LibDevice(server, project.tokens[0])
    try:
        assert device.connected()
        for line in ("one", "two", "three"):
            device.virtual_write(20, line)
            time.sleep(0.05)
        deadline = time.monotonic() + WAIT
        bodies = []
        while time.monotonic() < deadline:
            bodies = [body for command, _, body in project.app.sync(1)[1:] if command == Command.APP_SYNC]
            if b"1-0\0vm\x0020\x00two\x00three" in bodies:
                break
            time.sleep(0.1)
        assert b"1-0\0vm\x0020\x00two\x00three" in bodies
    finally:
        device.close()
        project.close()
