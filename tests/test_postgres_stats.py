"""The minute statistics against a real throwaway PostgreSQL cluster (spec/behaviours.md §9, storage.md §4.2):
a server with enable.db takes upstream's Stat every stats.print.worker.period, writes it to stats.log and to the
three reporting_*_stat_minute tables, and starts its counters again from 0; the rows wait while the database is
down. Without enable.db there is no stats job at all."""
import json
import time
import urllib.request

import pytest

from blynklite.codec.commands import Command

from conftest import free_ports
from history_support import SteppedServer
from postgres_support import cluster, db_properties  # noqa: F401  (cluster is a fixture)
from test_history_server import START, Device, open_project
from wsclient import WsClient, hardware_frame, parse_hardware

pytest.importorskip("psycopg2")
WAIT = 15.0
MIN_MS = 60_000
REGION = "test-region"
STAT_TABLES = ("reporting_app_stat_minute", "reporting_app_command_stat_minute",
               "reporting_http_command_stat_minute")
APP_COLUMNS = "active, active_week, active_month, connected, online_apps, online_hards, total_online_apps, " \
              "total_online_hards, registrations"


def wait_rows(cluster, sql, count):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        rows = cluster.query(sql)
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{sql}: {len(rows)} rows, wanted {count}")


def counter(server, code):
    return server.on_reactor(lambda: server.server.stats[code])


def wait_counted(server, code, count):
    deadline = time.monotonic() + WAIT
    while counter(server, code) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert counter(server, code) >= count, f"command {code} counted {counter(server, code)} times"


def http_get(server, path):
    with urllib.request.urlopen(f"http://{server.host}:{server.hw_port}{path}", timeout=WAIT) as response:
        return response.status


@pytest.fixture
def stats_server(tmp_path, cluster):
    for table in STAT_TABLES:
        cluster.query(f"DELETE FROM {table}")
    server = SteppedServer(tmp_path / "s", wall=START, files={"db.properties": db_properties(cluster)},
                           **{"enable.db": "true", "region": REGION})
    yield server
    server.stop()


def minutes(cluster, table):
    return [r[0] for r in cluster.query(f"SELECT extract(epoch from ts) * 1000 FROM {table} ORDER BY ts")]


def test_a_minute_of_commands_reaches_the_three_stat_tables_and_stats_log(stats_server, cluster):
    # upstream's first snapshot comes a second after the start: the server alone, nothing counted yet
    [first] = wait_rows(cluster, f"SELECT region, {APP_COLUMNS} FROM reporting_app_stat_minute", 1)
    assert first == (REGION, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    app, (token,) = open_project(stats_server, [])
    device = Device(stats_server.host, stats_server.hw_port, token)
    try:
        for value in range(3):
            device.write(5, str(value))
        wait_counted(stats_server, Command.HARDWARE, 3)
        assert http_get(stats_server, f"/{token}/isHardwareConnected") == 200
        assert http_get(stats_server, f"/{token}/update/V1?value=7") == 200
        assert http_get(stats_server, f"/{token}/get/V1") == 200
        stats_server.jump(60)                       # the next snapshot is due

        rows = wait_rows(cluster, f"SELECT region, {APP_COLUMNS} FROM reporting_app_stat_minute ORDER BY ts", 2)
        # one account, its app and device online, modified just now
        assert rows[1] == (REGION, 1, 1, 1, 1, 1, 1, 1, 1, 1)
        commands = wait_rows(cluster, "SELECT region, hardware, register, login, create_project, create_device, "
                                      "activate, get_token, appTotal FROM reporting_app_command_stat_minute "
                                      "ORDER BY ts", 2)
        # login: the app's and blynklib's (devices log in with LOGIN too); get_token is always 0 upstream;
        # appTotal: the app's three messages after its login (create_project, create_device, activate)
        assert commands[0][1] == 0 and commands[1] == (REGION, 3, 1, 2, 1, 1, 1, 0, 3)
        http = wait_rows(cluster, "SELECT is_hardware_connected, is_app_connected, get_pin_data, update_pin, "
                                  "total FROM reporting_http_command_stat_minute ORDER BY ts", 2)
        assert http == [(0, 0, 0, 0, 0), (1, 0, 1, 1, 3)]
        # each row is stamped with its minute (upstream truncates ts), the second one a minute later
        wall = stats_server.wall_ms()
        for table in STAT_TABLES:
            stamps = minutes(cluster, table)
            assert stamps[1] == wall // MIN_MS * MIN_MS and stamps[1] - stamps[0] == MIN_MS
        # the snapshot started the counters again from 0
        assert counter(stats_server, Command.HARDWARE) == 0

        lines = (stats_server.workdir / "logs" / "stats.log").read_text().splitlines()
        assert len(lines) == 2
        stat = json.loads(lines[1])
        assert stat["commands"]["hardware"] == 3 and stat["commands"]["login"] == 2
        assert stat["http"]["total"] == 3 and stat["http"]["updatePinData"] == 1
        assert (stat["registrations"], stat["connected"], stat["totalOnlineHards"]) == (1, 1, 1)
        assert stat["oneMinRate"] >= 0
    finally:
        device.close()
        app.close()


def test_admin_reads_do_not_reset_and_stat_rows_wait_while_the_database_is_down(stats_server, cluster):
    wait_rows(cluster, "SELECT * FROM reporting_app_stat_minute", 1)
    app, (token,) = open_project(stats_server, [])
    try:
        for _ in range(4):
            assert http_get(stats_server, f"/{token}/isAppConnected") == 200
        from blynklite.handlers.admin_stats import AdminStats
        admin = stats_server.on_reactor(AdminStats, stats_server.server)
        [seen] = json.loads(stats_server.on_reactor(admin.realtime, None, None).body)
        assert seen["http"]["isAppConnected"] == 4 and seen["connected"] == 0 and seen["onlineApps"] == 1
        assert counter(stats_server, 83) == 4      # the admin page read the counters, it did not reset them
        cluster.pause()
        stats_server.on_reactor(stats_server.clock.jump, 60)
        deadline = time.monotonic() + WAIT         # the snapshot is taken and its batch fails: the rows stay
        while stats_server.on_reactor(lambda: stats_server.history.database._down_since) is None:
            assert time.monotonic() < deadline, "the stat batch did not fail while the database was down"
            time.sleep(0.05)
        assert stats_server.on_reactor(lambda: len(stats_server.history.database.stat_rows)) == 1
        cluster.resume()
        stats_server.on_reactor(stats_server.clock.jump, 6)          # past the retry delay
        rows = wait_rows(cluster, "SELECT is_app_connected, total FROM reporting_http_command_stat_minute "
                                  "ORDER BY ts", 2)
        assert rows[1] == (4, 4)
    finally:
        app.close()


def test_without_a_database_there_is_no_stats_job(tmp_path):
    server = SteppedServer(tmp_path / "s", wall=START)
    try:
        time.sleep(1.5)                                             # past upstream's first-snapshot delay
        assert server.on_reactor(lambda: server.server.stats_minute) is None
        assert not (tmp_path / "s" / "logs" / "stats.log").exists()
    finally:
        server.stop()


# -- the counters without a Blynk command of their own: webSockets, eventor, webhooks, appTotal, mqttTotal --
def eventor_widget(actions):
    rule = {"isActive": True, "triggerPin": {"pin": 1, "pinType": "VIRTUAL"},
            "condition": {"type": "GT", "value": 10}, "actions": actions}
    return {"type": "EVENTOR", "id": 20, "x": 0, "y": 0, "width": 2, "height": 1, "deviceId": 0, "rules": [rule]}


def set_pin(pin, value):
    return {"type": "SETPIN", "pin": {"pin": pin, "pinType": "VIRTUAL"}, "value": value}


def webhook_widget(url):
    return {"type": "WEBHOOK", "id": 40, "x": 0, "y": 0, "width": 1, "height": 1, "deviceId": 0,
            "pinType": "VIRTUAL", "pin": 2, "url": url}


def wait_for(server, read, wanted, what):
    deadline = time.monotonic() + WAIT
    while server.on_reactor(read) != wanted and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.on_reactor(read) == wanted, f"{what}: {server.on_reactor(read)}, wanted {wanted}"


@pytest.fixture
def automation_stats_server(tmp_path, cluster):
    for table in STAT_TABLES:
        cluster.query(f"DELETE FROM {table}")
    server = SteppedServer(tmp_path / "s", wall=START, files={"db.properties": db_properties(cluster)},
                           **{"enable.db": "true", "region": REGION, "webhooks.deny.networks": "",
                              "hardware.mqtt.port": free_ports(1)[0]})
    yield server
    server.stop()


def test_websocket_eventor_webhook_app_and_mqtt_counters_reach_the_command_row(automation_stats_server, cluster):
    pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is in the test extra")
    pytest.importorskip("cryptography")
    from test_automation_webhooks import Recorder      # answers GET too
    from test_mqtt_port import connect_paho

    server = automation_stats_server
    wait_rows(cluster, "SELECT * FROM reporting_app_stat_minute", 1)      # the start's snapshot: all 0
    mqtt_port = server.server.config["hardware.mqtt.port"]
    with Recorder() as recorder:
        widgets = [eventor_widget([set_pin(3, "on"), set_pin(4, "off")]), webhook_widget(recorder.url + "/hook")]
        # after its login the app sends create_project, two create_device, two create_widget, activate
        app, (ws_token, mqtt_token) = open_project(server, widgets, devices=2)
        ws = WsClient.open(server, "/websockets")
        device = None
        from blynklite.handlers.admin_stats import AdminStats, messages_total
        total_before = server.on_reactor(messages_total, server.server)
        try:
            ws.send_binary(hardware_frame(Command.LOGIN, 1, ws_token.encode()))
            assert parse_hardware(ws.receive_binary()) == (Command.RESPONSE, 1, 200)
            ws.send_binary(hardware_frame(Command.HARDWARE, 2, b"vw\x001\x0042"))   # the rule fires: 2 actions
            ws.send_binary(hardware_frame(Command.HARDWARE, 3, b"vw\x002\x007"))    # the webhook is called
            assert recorder.next().path == "/hook"
            wait_for(server, lambda: server.server.stats[53], 2, "Eventor actions counted")
            # the message rate counts the three Blynk messages, the two actions and the call, but not the
            # three websocket frames that carried those messages (upstream's meter leaves them out)
            assert server.on_reactor(messages_total, server.server) - total_before == 3 + 2 + 1
            device = connect_paho(mqtt_port, "hist@example.com", mqtt_token)     # CONNECT is not counted
            for value in range(3):
                device.publish(f"vw\x005\x00{value}".encode())
            wait_for(server, lambda: server.server.mqtt_total, 3, "MQTT packets counted")
            expected = {"webSockets": 3, "eventor": 2, "webhooks": 1, "appTotal": 6, "mqttTotal": 3}

            admin = server.on_reactor(AdminStats, server.server)
            [seen] = json.loads(server.on_reactor(admin.realtime, None, None).body)
            assert {name: seen["commands"].get(name) for name in expected} == expected

            server.jump(60)
            rows = wait_rows(cluster, "SELECT web_sockets, eventor, webhooks, appTotal, hardTotal "
                                      "FROM reporting_app_command_stat_minute ORDER BY ts", 2)
            assert rows == [(0, 0, 0, 0, 0), (3, 2, 1, 6, 3)]
            stat = json.loads((server.workdir / "logs" / "stats.log").read_text().splitlines()[1])
            assert {name: stat["commands"][name] for name in expected} == expected
            # the snapshot started the two totals and the three codes again from 0
            assert server.on_reactor(lambda: (server.server.app_total, server.server.mqtt_total,
                                              server.server.stats[52:55])) == (0, 0, [0, 0, 0])
        finally:
            if device is not None:
                device.close()
            ws.close()
            app.close()
