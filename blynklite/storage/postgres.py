"""PostgreSQL in upstream's schemas (spec/storage.md §4): the reporting database (raw values, minute,
hour and day averages) and the main database's `users` table, written in batches on the worker pool.

Owns: `db.properties`, the write-behind queues, the one connection per database (used by one worker
task at a time), retries, and the `create-schema` command. Never does: block the reactor (the reactor
only appends to a deque; every connect, insert and commit runs on a worker), or import psycopg2 unless
`enable.db` is on.

The minute statistics (handlers/stats_minute.py) hand their three rows to `stat`; they wait and retry
as the other rows do, in their own small queue (STAT_QUEUE snapshots).

Invariant: a row handed to `raw`/`averages`/`users`/`stat` stays queued until the transaction holding it has
committed. While the database is down rows wait (the outage is logged once, retried every
RETRY_SECONDS); only when a queue is full are new rows refused, counted and logged - that is the one
place data is lost, and the log says how many rows.
"""
import collections
import datetime
import os
import re
import sys
import urllib.parse

from ..config import ConfigError
from ..logger import get_logger

log = get_logger("blynklite.db")

DB_PROPERTIES = "db.properties"
DEFAULTS = {
    "jdbc.url": "jdbc:postgresql://localhost:5432/blynk?tcpKeepAlive=true&socketTimeout=150",
    "user": "test", "password": "test", "connection.timeout.millis": "30000", "clean.reporting": "true",
    "reporting.jdbc.url": "jdbc:postgresql://localhost:5432/blynk_reporting?tcpKeepAlive=true&socketTimeout=150",
    "reporting.user": "test", "reporting.password": "test", "reporting.connection.timeout.millis": "30000",
}
FLUSH_SECONDS = 1.0         # raw rows reach the database within about a second
RETRY_SECONDS = 5.0         # after a failed batch: wait, reconnect, retry the same rows
BATCH_ROWS = 50_000         # rows per transaction: big enough for 20k rows/s at one batch a second
QUEUE_ROWS = 1_000_000      # rows waiting at most (~150 MB); past it new rows are refused and counted
PAGE_ROWS = 5_000           # rows per INSERT statement (psycopg2 execute_values page size)
MINUTE_KEEP = datetime.timedelta(hours=24, minutes=1)   # upstream deletes older minute averages
HOURLY_KEEP = datetime.timedelta(days=90, hours=1)       # and older hourly averages; daily rows stay
NUL_STAND_IN = "\u2400"     # PostgreSQL text cannot hold NUL: multi-value writes keep "␀" between values
STAT_QUEUE = 1440           # statistics snapshots waiting at most: a day of minutes while the database is down
MINUTE_MS = 60_000          # stat rows are stamped with their minute, as upstream's insertStat truncates
PIN_TYPE_ORDINAL = {"DIGITAL": 0, "VIRTUAL": 1, "ANALOG": 2}
PIN_TYPE_LETTER = {"DIGITAL": "d", "VIRTUAL": "v", "ANALOG": "a"}
AVERAGE_TABLES = {"minute": "reporting_average_minute", "hourly": "reporting_average_hourly",
                  "daily": "reporting_average_daily"}
MISSING_EXTRA = ("enable.db is on but psycopg2 is not installed: install the database extra with "
                 "pip install 'blynklite[db]' (or pip install psycopg2-binary)")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_UTC = datetime.timezone.utc

RAW_SQL = ("INSERT INTO reporting_raw_data (email, project_id, device_id, pin, pinType, ts, stringValue, "
           "doubleValue) VALUES %s ON CONFLICT (email, project_id, device_id, pin, pinType, ts) DO UPDATE "
           "SET stringValue = EXCLUDED.stringValue, doubleValue = EXCLUDED.doubleValue")
AVERAGE_SQL = ("INSERT INTO {} (email, project_id, device_id, pin, pin_type, ts, value) VALUES %s "
               "ON CONFLICT (email, project_id, device_id, pin, pin_type, ts) DO UPDATE SET value = EXCLUDED.value")
USERS_SQL = ("INSERT INTO users (email, appName, region, ip, name, pass, last_modified, last_logged, "
             "last_logged_ip, is_facebook_user, is_super_admin, energy, json) VALUES %s "
             "ON CONFLICT (email, appName) DO UPDATE SET region = EXCLUDED.region, ip = EXCLUDED.ip, "
             "name = EXCLUDED.name, pass = EXCLUDED.pass, last_modified = EXCLUDED.last_modified, "
             "last_logged = EXCLUDED.last_logged, last_logged_ip = EXCLUDED.last_logged_ip, "
             "is_facebook_user = EXCLUDED.is_facebook_user, is_super_admin = EXCLUDED.is_super_admin, "
             "energy = EXCLUDED.energy, json = EXCLUDED.json")

# The three statistics tables (storage.md §4.2): (table, columns after region and ts, Stat fields). A second
# row for the same (region, minute) is dropped, as upstream's plain INSERT fails on the primary key.
STAT_APP_COLUMNS = ("active", "active_week", "active_month", "minute_rate", "connected", "online_apps",
                    "online_hards", "total_online_apps", "total_online_hards", "registrations")
STAT_APP_FIELDS = ("active", "activeWeek", "activeMonth", "oneMinRate", "connected", "onlineApps",
                   "onlineHards", "totalOnlineApps", "totalOnlineHards", "registrations")
STAT_COMMAND_COLUMNS = (
    "response", "register", "login", "load_profile", "app_sync", "sharing", "get_token", "ping", "activate",
    "deactivate", "refresh_token", "get_graph_data", "export_graph_data", "set_widget_property", "bridge",
    "hardware", "get_share_dash", "get_share_token", "refresh_share_token", "share_login", "create_project",
    "update_project", "delete_project", "hardware_sync", "internal", "sms", "tweet", "email", "push",
    "add_push_token", "create_widget", "update_widget", "delete_widget", "create_device", "update_device",
    "delete_device", "get_devices", "create_tag", "update_tag", "delete_tag", "get_tags", "add_energy",
    "get_energy", "get_server", "connect_redirect", "web_sockets", "eventor", "webhooks", "appTotal", "hardTotal")
STAT_COMMAND_FIELDS = (
    "response", "register", "login", "loadProfile", "appSync", "sharing", "getToken", "ping", "activate",
    "deactivate", "refreshToken", "getGraphData", "exportGraphData", "setWidgetProperty", "bridge", "hardware",
    "getSharedDash", "getShareToken", "refreshShareToken", "shareLogin", "createProject", "updateProject",
    "deleteProject", "hardwareSync", "internal", "sms", "tweet", "email", "push", "addPushToken", "createWidget",
    "updateWidget", "deleteWidget", "createDevice", "updateDevice", "deleteDevice", "getDevices", "createTag",
    "updateTag", "deleteTag", "getTags", "addEnergy", "getEnergy", "getServer", "connectRedirect", "webSockets",
    "eventor", "webhooks", "appTotal", "mqttTotal")      # hardTotal receives the MQTT counter (upstream)
STAT_HTTP_COLUMNS = ("is_hardware_connected", "is_app_connected", "get_pin_data", "update_pin", "email", "push",
                     "get_project", "qr", "get_history_pin_data", "total")
STAT_HTTP_FIELDS = ("isHardwareConnected", "isAppConnected", "getPinData", "updatePinData", "email", "notify",
                    "getProject", "qr", "getHistoryPinData", "total")
STAT_TABLES = (("reporting_app_stat_minute", STAT_APP_COLUMNS),
               ("reporting_app_command_stat_minute", STAT_COMMAND_COLUMNS),
               ("reporting_http_command_stat_minute", STAT_HTTP_COLUMNS))
STAT_SQL = "INSERT INTO {} (region, ts, {}) VALUES ({}) ON CONFLICT (region, ts) DO NOTHING"


def stat_rows(region, wall_ms, stat):
    """The three rows of a Stat (handlers/admin_stats.stat), in STAT_TABLES order."""
    ts = utc(wall_ms // MINUTE_MS * MINUTE_MS)
    return ((region, ts, *(int(stat[f]) for f in STAT_APP_FIELDS)),
            (region, ts, *(int(stat["commands"][f]) for f in STAT_COMMAND_FIELDS)),
            (region, ts, *(int(stat["http"][f]) for f in STAT_HTTP_FIELDS)))


class DatabaseError(ConfigError):
    """The database cannot be used as configured (missing extra, bad db.properties)."""


def load_db_properties(folder):
    """db.properties from `folder` over upstream's shipped defaults."""
    from ..config import parse_properties
    values = dict(DEFAULTS)
    path = os.path.join(folder, DB_PROPERTIES)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            values.update(parse_properties(handle.read(), path))
    return values


def connect_args(jdbc_url, user, password, timeout_ms):
    """A JDBC PostgreSQL URL → psycopg2.connect keyword arguments."""
    if not jdbc_url.startswith("jdbc:postgresql://"):
        raise DatabaseError(f"not a PostgreSQL JDBC URL: {jdbc_url}")
    parsed = urllib.parse.urlsplit(jdbc_url[len("jdbc:"):])
    return {"host": parsed.hostname or "localhost", "port": parsed.port or 5432,
            "dbname": parsed.path.lstrip("/") or "postgres", "user": user, "password": password,
            "connect_timeout": max(1, int(timeout_ms) // 1000),
            "options": "-c TimeZone=UTC"}     # `timestamp` columns hold UTC, as upstream writes them


def import_driver():
    try:
        import psycopg2
        import psycopg2.extras
    except ImportError as error:
        raise DatabaseError(MISSING_EXTRA) from error
    return psycopg2


def utc(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, _UTC)


def raw_row(email, dash_id, device_id, pin_type, pin, ts, text):
    """Upstream's raw row: numbers in doubleValue, anything else (kept whole) in stringValue."""
    if _NUMBER.fullmatch(text):
        return (email, dash_id, device_id, pin, PIN_TYPE_LETTER[pin_type], ts, None, float(text))
    return (email, dash_id, device_id, pin, PIN_TYPE_LETTER[pin_type], ts, text.replace("\0", NUL_STAND_IN), None)


class Connection:
    """One database, connected lazily on a worker; dropped after an error so the next batch reconnects."""

    def __init__(self, driver, args):
        self.driver, self.args, self.conn = driver, args, None

    def get(self):
        if self.conn is None or self.conn.closed:
            self.conn = self.driver.connect(**self.args)
        return self.conn

    def drop(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None


class Database:
    def __init__(self, server, props, driver=None):
        self.server = server
        self.driver = driver or import_driver()
        self.raw_enabled = bool(server.config["enable.raw.db.data.store"])
        self.clean = props.get("clean.reporting", "true").lower() == "true"
        self.reporting = Connection(self.driver, connect_args(
            props["reporting.jdbc.url"], props["reporting.user"], props["reporting.password"],
            props["reporting.connection.timeout.millis"]))
        self.main = Connection(self.driver, connect_args(
            props["jdbc.url"], props["user"], props["password"], props["connection.timeout.millis"]))
        self.raw_rows = collections.deque()
        self.average_rows = collections.deque()
        self.user_rows = {}                 # (email, appName) → row; the newest state wins
        self.stat_rows = collections.deque()  # (app, command, http) rows of a statistics snapshot
        self.deleted_users = set()          # (email, appName) whose users row goes
        self.refused = 0
        self.written = 0
        self._busy = False
        self._down_since = None
        self._retry_at = 0.0
        self._users_since = 0
        self._purge_due = False

    # -- wiring -----------------------------------------------------------------------------------
    def start(self):
        reactor = self.server.reactor
        self._users_since = 0
        reactor.call_every(FLUSH_SECONDS, self.flush)
        reactor.call_every(self.server.config["profile.save.worker.period"] / 1000, self.collect_users)

    # -- the reactor side: O(1) appends -----------------------------------------------------------
    def raw(self, user, dash_id, device_id, pin_type, pin, ts, text):
        if len(self.raw_rows) >= QUEUE_ROWS:
            self._refuse(1)
            return
        self.raw_rows.append((user.email, dash_id, device_id, pin_type, pin, ts, text))

    def averages(self, rows):
        """[(granularity, email, dash_id, device_id, pin, pin_type, ts, value)] from the minute flush."""
        room = QUEUE_ROWS - len(self.average_rows)
        if len(rows) > room:
            self._refuse(len(rows) - room)
            rows = rows[:max(0, room)]
        self.average_rows.extend(rows)
        self._purge_due = self.clean

    def stat(self, region, wall_ms, stat):
        """The minute statistics' three rows (handlers/stats_minute.py)."""
        if len(self.stat_rows) >= STAT_QUEUE:
            self._refuse(3)
            return
        self.stat_rows.append(stat_rows(region, wall_ms, stat))

    def collect_users(self):
        """Users changed since the last run, as upstream's profile save upserts them."""
        since, now = self._users_since, self.server.reactor.wall_ms
        for user in self.server.hub.users.values():
            changed = (user.last_modified_ts or 0) >= since or any(
                (d.updated_at or 0) >= since for d in user.profile.dashboards)
            if changed:
                self.user_rows[user.key] = self._user_row(user)
        self._users_since = now

    def user_deleted(self, user):
        """The account was deleted: its users row goes with the next batch."""
        self.user_rows.pop(user.key, None)
        self.deleted_users.add(user.key)

    def _user_row(self, user):
        """The users row (storage.md §4.1): the account's fields and `json` = its profile JSON."""
        import json
        profile = json.dumps(user.profile.to_json(), ensure_ascii=False, separators=(",", ":"))
        return (user.email, user.app_name, user.region or "local", user.ip, user.name or user.email,
                user.password, utc(user.last_modified_ts or 0), utc(user.last_logged_at or 0),
                user.last_logged_ip, bool(user.is_facebook_user), bool(user.is_super_admin),
                int(user.energy or 0), profile)

    def _refuse(self, count):
        if not self.refused:
            log.error("database queue full (%d rows): new rows are refused and counted until it drains",
                      QUEUE_ROWS)
        self.refused += count

    # -- the batch job ------------------------------------------------------------------------------
    def flush(self):
        if self._busy or self.server.reactor.now < self._retry_at:
            return
        raw = _take(self.raw_rows, BATCH_ROWS)
        averages = _take(self.average_rows, BATCH_ROWS)
        users, self.user_rows = list(self.user_rows.values()), {}
        deleted, self.deleted_users = list(self.deleted_users), set()
        stats = _take(self.stat_rows, STAT_QUEUE)
        purge = self._purge_due
        if not (raw or averages or users or deleted or purge or stats):
            return
        self._busy = True
        now_ms = self.server.reactor.wall_ms
        if not self.server.workers.submit(self._write, raw, averages, users, purge, now_ms, deleted, stats,
                                          on_done=lambda result, error: self._done(raw, averages, users, error,
                                                                                   deleted, stats)):
            self._done(raw, averages, users, RuntimeError("worker queue full"), deleted, stats)

    def _done(self, raw, averages, users, error, deleted=(), stats=()):
        self._busy = False
        if error is None:
            self._purge_due = False
            self.written += len(raw) + len(averages) + len(users)
            if self._down_since is not None:
                log.info("database is back; %d rows waited", len(raw) + len(averages) + len(users))
                self._down_since = None
            if len(self.raw_rows) >= BATCH_ROWS:
                self.server.reactor.call_soon(self.flush)     # a backlog drains without waiting
            return
        if self._down_since is None:
            self._down_since = self.server.reactor.now
            log.error("database write failed (%s); rows are kept and retried every %ss", error, RETRY_SECONDS)
        self._retry_at = self.server.reactor.now + RETRY_SECONDS
        self.raw_rows.extendleft(reversed(raw))
        self.average_rows.extendleft(reversed(averages))
        self.stat_rows.extendleft(reversed(stats))
        for row in users:
            self.user_rows.setdefault((row[0], row[1]), row)
        self.deleted_users.update(key for key in deleted if key not in self.user_rows)

    def _write(self, raw, averages, users, purge, now_ms, deleted=(), stats=()):
        """On a worker: one transaction per database for the whole batch."""
        if raw or averages or purge or stats:
            self._transaction(self.reporting, self._write_reporting, raw, averages, purge, now_ms, stats)
        if users or deleted:
            self._transaction(self.main, self._write_users, users, deleted)

    def _transaction(self, connection, work, *args):
        try:
            conn = connection.get()
            with conn:                  # commit, or roll back on error
                with conn.cursor() as cursor:
                    work(cursor, *args)
        except Exception:
            connection.drop()
            raise

    def _write_reporting(self, cursor, raw, averages, purge, now_ms, stats=()):
        values = self.driver.extras.execute_values
        for snapshot in stats:
            for (table, columns), row in zip(STAT_TABLES, snapshot):
                cursor.execute(STAT_SQL.format(table, ", ".join(columns), ", ".join(["%s"] * len(row))), row)
        if raw:
            latest = {}
            for email, dash_id, device_id, pin_type, pin, ts, text in raw:   # same ms: the later value wins
                row = raw_row(email, dash_id, device_id, pin_type, pin, utc(ts), text)
                latest[row[:6]] = row
            values(cursor, RAW_SQL, list(latest.values()), page_size=PAGE_ROWS)
        for granularity, table in AVERAGE_TABLES.items():
            rows = {}
            for g, email, dash_id, device_id, pin, pin_type, ts, value in averages:
                if g == granularity:
                    row = (email, dash_id, device_id, pin, PIN_TYPE_ORDINAL[pin_type], utc(ts), value)
                    rows[row[:6]] = row
            if rows:
                values(cursor, AVERAGE_SQL.format(table), list(rows.values()), page_size=PAGE_ROWS)
        if purge:
            now = utc(now_ms)
            cursor.execute("DELETE FROM reporting_average_minute WHERE ts < %s", (now - MINUTE_KEEP,))
            cursor.execute("DELETE FROM reporting_average_hourly WHERE ts < %s", (now - HOURLY_KEEP,))

    def _write_users(self, cursor, users, deleted):
        if users:
            self.driver.extras.execute_values(cursor, USERS_SQL, users, page_size=PAGE_ROWS)
        for email, app_name in deleted:
            cursor.execute("DELETE FROM users WHERE email = %s AND appName = %s", (email, app_name))

    def pending(self):
        return self._busy or bool(self.raw_rows or self.average_rows or self.user_rows or self.deleted_users
                                  or self.stat_rows)

    def close(self):
        """Shutdown: one last synchronous batch (the workers are stopped by now)."""
        raw, averages = list(self.raw_rows), list(self.average_rows)
        users, deleted = list(self.user_rows.values()), list(self.deleted_users)
        stats = list(self.stat_rows)
        try:
            if raw or averages or users or deleted or stats:
                self._write(raw, averages, users, False, self.server.reactor.wall_ms, deleted, stats)
        except Exception as error:
            log.error("database: %d rows could not be written at shutdown: %s",
                      len(raw) + len(averages) + len(users), error)
        self.reporting.drop()
        self.main.drop()


def open_database(server):
    """The Database for `enable.db`, or DatabaseError naming what is missing."""
    folder = os.path.dirname(os.path.abspath(server.config.source)) if server.config.source and \
        not server.config.source.startswith("<") else os.getcwd()
    database = Database(server, load_db_properties(folder))
    database.start()
    return database


def _take(queue, limit):
    count = min(limit, len(queue))
    return [queue.popleft() for _ in range(count)]


# -- the create-schema command ------------------------------------------------------------------------
def schema_files():
    folder = os.path.join(os.path.dirname(__file__), "sql")
    return [os.path.join(folder, "create_schema.sql"), os.path.join(folder, "reporting_schema.sql")]


def statements(sql):
    """(kind, text) of a schema file: ("connect", dbname) for psql's \\connect, else ("sql", statement)."""
    buffer = []
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("\\connect"):
            yield "connect", stripped.split()[1]
        elif stripped and not stripped.startswith("--"):
            buffer.append(line)
            if stripped.endswith(";"):
                yield "sql", "\n".join(buffer)
                buffer = []


def create_schema(args, out=print):
    """Run both schema files against a server as psql would; objects that exist are reported and kept."""
    driver = import_driver()
    conn = None
    for path in schema_files():
        target = dict(args)
        with open(path, encoding="utf-8") as handle:
            for kind, text in statements(handle.read()):
                if kind == "connect":
                    conn.close()
                    target = dict(args, dbname=text)
                    conn = None
                    continue
                if conn is None:
                    conn = driver.connect(**target)
                    conn.autocommit = True      # CREATE DATABASE cannot run inside a transaction
                try:
                    with conn.cursor() as cursor:
                        cursor.execute(text)
                except (driver.errors.DuplicateDatabase, driver.errors.DuplicateObject,
                        driver.errors.DuplicateTable) as error:
                    out(f"exists, kept: {str(error).strip().splitlines()[0]}")
        if conn is not None:
            conn.close()
            conn = None
        out(f"applied {os.path.basename(path)}")


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="python3 -m blynklite.storage.postgres",
                                     description="Create blynklite's PostgreSQL databases (upstream's schemas).")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-schema", help="create databases blynk and blynk_reporting, user test/test")
    create.add_argument("--host", default="localhost")
    create.add_argument("--port", type=int, default=5432)
    create.add_argument("--user", default="postgres", help="a role allowed to create databases")
    create.add_argument("--password", default=os.environ.get("PGPASSWORD"))
    create.add_argument("--dbname", default="postgres", help="database to connect to first")
    args = parser.parse_args(argv)
    try:
        create_schema({"host": args.host, "port": args.port, "user": args.user, "password": args.password,
                       "dbname": args.dbname, "connect_timeout": 10})
    except DatabaseError as error:
        print(error, file=sys.stderr)
        return 2
    except Exception as error:
        print(f"could not create the schema: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
