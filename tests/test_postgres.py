"""PostgreSQL against a real throwaway cluster: the create-schema command, raw values and averages from a
blynklib device, the users table, and rows that wait while the database is down."""
import json
import subprocess
import sys
import time

import pytest

from blynklite.codec.commands import Command, Status

from history_support import SteppedServer
from postgres_support import cluster, db_properties  # noqa: F401  (cluster is a fixture)
from test_history_server import START, Device, chart, open_project

pytest.importorskip("psycopg2")
WAIT = 15.0
MIN_MS = 60_000


def wait_rows(cluster, sql, count, params=(), dbname="blynk_reporting"):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        rows = cluster.query(sql, params, dbname)
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{sql}: {len(rows)} rows, wanted {count}")


def test_create_schema_makes_upstream_tables_and_runs_twice(cluster):
    tables = {r[0] for r in cluster.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"reporting_raw_data", "reporting_average_minute", "reporting_average_hourly", "reporting_average_daily",
            "reporting_app_stat_minute", "reporting_app_command_stat_minute",
            "reporting_http_command_stat_minute"} <= tables
    main = {r[0] for r in cluster.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", dbname="blynk")}
    assert {"users", "redeem", "flashed_tokens", "cloned_projects", "purchase", "forwarding_tokens"} <= main
    again = subprocess.run([sys.executable, "-m", "blynklite.storage.postgres", "create-schema", "--host",
                            cluster.host, "--port", str(cluster.port)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "exists, kept" in again.stdout


@pytest.fixture
def db_server(tmp_path, cluster):
    for table in ("reporting_raw_data", "reporting_average_minute", "reporting_average_hourly"):
        cluster.query(f"DELETE FROM {table}")
    cluster.query("DELETE FROM users", dbname="blynk")
    server = SteppedServer(tmp_path / "s", wall=START, files={"db.properties": db_properties(cluster)},
                           **{"enable.db": "true", "enable.raw.db.data.store": "true"})
    yield server
    server.stop()


def test_device_values_reach_raw_average_and_users_tables(db_server, cluster):
    app, (token,) = open_project(db_server, [chart(7, (0, 5, "AVG"))])
    device = Device(db_server.host, db_server.hw_port, token)
    try:
        device.write(5, "10")
        device.write(5, "hello")
        device.write(5, 1, 2)                 # a multi-value write: a string, never dropped
        device.write(6, "20")                 # not charted: raw only
        rows = wait_rows(cluster, "SELECT email, project_id, device_id, pin, pinType, stringValue, doubleValue "
                                  "FROM reporting_raw_data ORDER BY ts", 4)
        assert [r[3:] for r in rows] == [(5, "v", None, 10.0), (5, "v", "hello", None), (5, "v", "1\u24002", None),
                                         (6, "v", None, 20.0)]
        assert {r[:3] for r in rows} == {("hist@example.com", 1, 0)}
        stamp = cluster.query("SELECT ts FROM reporting_raw_data ORDER BY ts LIMIT 1")[0][0]
        assert abs(stamp.timestamp() - START) < 5 or abs(stamp.replace(tzinfo=None).timestamp() - START) < 5
        db_server.jump(61)
        rows = wait_rows(cluster, "SELECT email, project_id, device_id, pin, pin_type, "
                                  "extract(epoch from ts) * 1000, value FROM reporting_average_minute", 1)
        minute = (START * 1000) // MIN_MS * MIN_MS
        assert rows == [("hist@example.com", 1, 0, 5, 1, minute, 10.0)]
        users = wait_rows(cluster, "SELECT email, appName, energy, json FROM users", 1, dbname="blynk")
        assert users[0][:2] == ("hist@example.com", "Blynk")
        assert json.loads(users[0][3])["dashBoards"][0]["id"] == 1
        user = db_server.on_reactor(db_server.server.hub.get_user, "hist@example.com", "Blynk")
        db_server.on_reactor(db_server.server.delete_user, user)          # as the admin page does
        deadline = time.monotonic() + WAIT
        while cluster.query("SELECT email FROM users", dbname="blynk") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cluster.query("SELECT email FROM users", dbname="blynk") == []
    finally:
        device.close()
        app.close()


def test_rows_wait_while_the_database_is_down(db_server, cluster):
    app, (token,) = open_project(db_server, [chart(7, (0, 5, "AVG"))])
    device = Device(db_server.host, db_server.hw_port, token)
    try:
        device.write(5, "1")
        wait_rows(cluster, "SELECT * FROM reporting_raw_data", 1)
        cluster.pause()
        for value in range(2, 12):
            device.write(5, str(value))
        time.sleep(1.5)                                   # a flush fails: the rows stay queued
        assert db_server.on_reactor(lambda: len(db_server.history.database.raw_rows)) == 10
        assert app.request(Command.PING)[2] == Status.OK   # the reactor never waited for the database
        cluster.resume()
        db_server.on_reactor(db_server.clock.jump, 6)      # past the retry delay
        rows = wait_rows(cluster, "SELECT doubleValue FROM reporting_raw_data ORDER BY ts", 11)
        assert [r[0] for r in rows] == [float(v) for v in range(1, 12)]
    finally:
        device.close()
        app.close()


def test_enable_db_without_the_extra_names_it(tmp_path):
    from conftest import free_ports
    hw, app = free_ports(2)
    (tmp_path / "server.properties").write_text(
        f"http.port={hw}\nhttps.port={app}\nhardware.ssl.port=0\nhardware.mqtt.port=0\nlisten.address=127.0.0.1\n"
        f"data.folder={tmp_path / 'data'}\nlogs.folder={tmp_path / 'logs'}\nadmin.pass=x-admin-pass\nenable.db=true\n")
    script = ("import sys; sys.modules['psycopg2'] = None\n"      # as if psycopg2-binary were not installed
              "from blynklite.__main__ import main\n"
              f"sys.exit(main(['-serverConfig', {str(tmp_path / 'server.properties')!r}]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PYTHONPATH": str(__import__('conftest').ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0
    assert "pip install 'blynklite[db]'" in done.stderr and "Traceback" not in done.stderr
