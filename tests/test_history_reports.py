"""The Report widget: CREATE/UPDATE/DELETE/EXPORT_REPORT with energy and limits, a daily report that runs
on its own at its time in the report's time zone, and the mailed link that downloads the zip of CSVs.
Real server on a stepped clock, real blynklib device, real SMTP peer."""
import io
import json
import urllib.request
import zipfile

import pytest

from blynklite.codec.commands import Command, Status

from history_support import SteppedServer
from test_history_server import START, Device, login, open_project

pytest.importorskip("aiosmtpd")
MIN_MS = 60_000
DAY_START_MS = START * 1000 // 86_400_000 * 86_400_000
CREATE_REPORT, UPDATE_REPORT, DELETE_REPORT, EXPORT_REPORT = 77, 78, 79, 80

REPORT_WIDGET = {"type": "REPORT", "id": 50, "x": 0, "y": 0, "width": 8, "height": 2,
                 "reportSources": [{"type": "DEVICE", "deviceIds": [0],
                                    "dataStreams": [{"pin": 5, "pinType": "VIRTUAL", "isSelected": True}]}]}


def daily(report_id, at_utc_seconds, **extra):
    report = {"id": report_id, "name": "Boiler", "reportSources": REPORT_WIDGET["reportSources"],
              "reportType": {"type": "DAILY", "atTime": at_utc_seconds * 1000, "durationType": "INFINITE"},
              "recipients": "owner@example.com", "granularityType": "MINUTE", "isActive": True,
              "format": "ISO_SIMPLE", "tzName": "Europe/Berlin"}
    report.update(extra)
    return report


@pytest.fixture
def mail_server(tmp_path):
    from notify.peers import SmtpServer
    with SmtpServer() as smtp:
        mail = {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": smtp.port, "mail.smtp.auth": "false",
                "mail.smtp.username": "blynk@example.com", "mail.smtp.starttls.enable": "false",
                "mail.from": "Blynk <blynk@example.com>"}
        server = SteppedServer(tmp_path / "r", wall=START, files={"mail.properties": mail},
                               **{"initial.energy": 10000})
        try:
            yield server, smtp
        finally:
            server.stop()


def zip_entries(link, raw=False):
    """{entry name: text} of the zip the link downloads ({name: bytes} with `raw`), in the zip's order."""
    with urllib.request.urlopen(link, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(response.read()))
    assert len(set(archive.namelist())) == len(archive.namelist()), archive.namelist()     # no name twice
    return {name: archive.read(name) if raw else csv_text(archive.read(name)) for name in archive.namelist()}


def csv_text(data):
    """A report CSV is upstream's UTF-16: big-endian behind a byte order mark (empty when no rows)."""
    assert data == b"" or data.startswith(b"\xfe\xff"), data[:8]
    return data[2:].decode("utf-16-be")


def test_reports_cost_energy_run_on_demand_and_on_schedule(mail_server):
    server, smtp = mail_server
    app, (token,) = open_project(server, [REPORT_WIDGET])
    report = daily(1, 10 * 3600 + 15 * 60)           # 10:15 UTC = 11:15 in Berlin in January
    assert app.request(CREATE_REPORT, "1\x00" + json.dumps(daily(1, 0, reportSources=[])))[2] == \
        Status.ILLEGAL_COMMAND
    command, _, body = app.request(CREATE_REPORT, "1\x00" + json.dumps(report))
    assert command == CREATE_REPORT
    created = json.loads(body)
    assert created["nextReportAt"] == DAY_START_MS + (10 * 3600 + 15 * 60) * 1000
    assert app.request(Command.GET_ENERGY)[2] == b"7100"     # 10000 - 2900
    assert app.request(CREATE_REPORT, "1\x00" + json.dumps(report))[2] == Status.ILLEGAL_COMMAND   # same id

    device = Device(server.host, server.hw_port, token)
    device.write(5, "10")
    device.write(5, "20")
    server.wait_recorded(2)
    server.jump(61)
    minute = START * 1000 // MIN_MS * MIN_MS
    command, _, body = app.request(EXPORT_REPORT, "1\x001")
    assert command == EXPORT_REPORT and json.loads(body)["lastRunResult"] == "OK"
    _, recipients, message = smtp.mailbox.next()
    assert recipients == ["owner@example.com"] and message["Subject"] == "Your daily Boiler is ready"
    link = message.get_body(("html",)).get_content().split('href="')[1].split('"')[0]
    assert zip_entries(link) == {"dev0_0_v5.csv": "2026-01-01 11:05:00,15.0\n"}
    assert app.request(EXPORT_REPORT, "1\x001")[2] == Status.QUOTA_LIMIT        # once a minute
    assert app.request(EXPORT_REPORT, "1\x009")[2] == Status.ILLEGAL_COMMAND

    device.write(5, "30")
    server.wait_recorded(1)
    server.jump(8 * 60)                               # 10:14: the minute of the 30 is on disk
    server.jump(60)                                   # past 10:15 UTC: the daily run fires by itself
    _, _, message = smtp.mailbox.next()
    assert message is not None and message["Subject"] == "Your daily Boiler is ready"
    link = message.get_body(("html",)).get_content().split('href="')[1].split('"')[0]
    assert zip_entries(link)["dev0_0_v5.csv"].splitlines() == ["2026-01-01 11:05:00,15.0", "2026-01-01 11:06:00,30.0"]
    device.close()

    app.close()
    app = login(server)
    profile = app.load_profile()
    saved = profile["dashBoards"][0]["widgets"][0]["reports"][0]
    assert saved["nextReportAt"] == DAY_START_MS + 86_400_000 + (10 * 3600 + 15 * 60) * 1000
    assert saved["lastRunResult"] == "OK"
    command, _, body = app.request(UPDATE_REPORT, "1\x00" + json.dumps(daily(1, 10 * 3600 + 15 * 60, isActive=False)))
    assert command == UPDATE_REPORT
    assert app.request(DELETE_REPORT, "1\x001")[2] == Status.OK
    assert app.request(Command.GET_ENERGY)[2] == b"10000"
    assert app.request(DELETE_REPORT, "1\x001")[2] == Status.ILLEGAL_COMMAND
    app.close()


def test_weekly_and_monthly_next_runs_follow_the_time_zone():
    from blynklite.history import reports
    now = START * 1000                                   # Thursday 2026-01-01 10:05:20 UTC
    weekly = {"reportType": {"type": "WEEKLY", "atTime": 8 * 3600 * 1000, "dayOfTheWeek": 1}, "tzName": "UTC"}
    assert reports.next_run(weekly, now) == DAY_START_MS + 4 * 86_400_000 + 8 * 3600 * 1000   # Monday 5th
    monthly = {"reportType": {"type": "MONTHLY", "atTime": 0, "dayOfMonth": "LAST"}, "tzName": "America/New_York"}
    # midnight UTC of day 0 is 19:00 New York: the last day of January at 19:00 New York = Feb 1st 00:00 UTC
    assert reports.next_run(monthly, now) == DAY_START_MS + 31 * 86_400_000
    expired = {"reportType": {"type": "DAILY", "atTime": 0, "durationType": "CUSTOM", "startTs": 0,
                              "endTs": now - 3 * 86_400_000}, "tzName": "UTC"}
    assert reports.next_run(expired, now) is None


@pytest.mark.parametrize("command, body, status", [
    (CREATE_REPORT, "1", Status.ILLEGAL_COMMAND),                        # no JSON
    (CREATE_REPORT, "1\x00{not json", Status.ILLEGAL_COMMAND_BODY),
    (CREATE_REPORT, '1\x00{"id": "x"}', Status.ILLEGAL_COMMAND_BODY),
    (CREATE_REPORT, "9\x00{}", Status.ILLEGAL_COMMAND),                   # unknown dashboard
    (CREATE_REPORT, "1\x00" + json.dumps(daily(2, 0, recipients="not-an-address")), Status.ILLEGAL_COMMAND),
    (CREATE_REPORT, "1\x00" + json.dumps(daily(2, 0, reportType={"type": "DAILY", "startTs": 5, "endTs": 1})),
     Status.ILLEGAL_COMMAND),
    (UPDATE_REPORT, "1\x00" + json.dumps(daily(99, 0)), Status.ILLEGAL_COMMAND),   # no such report
    (DELETE_REPORT, "1\x00abc", Status.ILLEGAL_COMMAND),
    (EXPORT_REPORT, "1\x00", Status.ILLEGAL_COMMAND),
])
def test_bad_report_requests_get_a_status_and_change_nothing(mail_server, command, body, status):
    server, _ = mail_server
    app, _ = open_project(server, [REPORT_WIDGET])
    try:
        assert app.request(command, body)[2] == status
        assert app.request(Command.GET_ENERGY)[2] == b"10000"
        assert app.request(Command.PING)[2] == Status.OK
    finally:
        app.close()


def test_an_expired_custom_report_is_refused(mail_server):
    server, _ = mail_server
    app, _ = open_project(server, [REPORT_WIDGET])
    try:
        expired = daily(3, 0, reportType={"type": "DAILY", "atTime": 0, "durationType": "CUSTOM",
                                          "startTs": 0, "endTs": (START - 5 * 86400) * 1000})
        assert app.request(CREATE_REPORT, "1\x00" + json.dumps(expired))[2] == Status.ILLEGAL_COMMAND_BODY
        assert app.request(Command.GET_ENERGY)[2] == b"10000"
    finally:
        app.close()
