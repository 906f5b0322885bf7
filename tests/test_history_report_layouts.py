"""The Report widget's output layouts as upstream writes them: a CSV per device and pin, a CSV per device,
one merged CSV, and EXCEL_TAB_PER_DEVICE (written per device and pin, as upstream); every file UTF-16
big-endian behind a byte order mark, times in the report's format and zone, names cleaned as upstream.
Real blynklib devices write the values, the app protocol creates and exports the reports, a real SMTP
peer receives the mail and the zip is downloaded over HTTP from its link; the daily run is reached by
stepping the server's clock."""
import json

import pytest

from blynklite.codec.commands import Command, Status

from test_history_reports import mail_server  # noqa: F401  (the fixture)
from test_history_reports import CREATE_REPORT, DAY_START_MS, EXPORT_REPORT, csv_text, daily, zip_entries
from test_history_server import START, Device, login

pytest.importorskip("aiosmtpd")
MIN_MS = 60_000
MINUTE = START * 1000 // MIN_MS * MIN_MS              # 2026-01-01 10:05:00 UTC: the minute the devices write in
DEVICE_NAMES = ("Boiler room", "Pump;B", "Idle")      # a space upstream drops from file names, a ; it quotes
STREAMS = [{"pin": 5, "pinType": "VIRTUAL", "label": "Temp, °C", "isSelected": True},
           {"pin": 6, "pinType": "VIRTUAL", "isSelected": True}]
SOURCES = [{"type": "DEVICE", "deviceIds": [0, 1, 2], "dataStreams": STREAMS}]
WIDGET = {"type": "REPORT", "id": 50, "x": 0, "y": 0, "width": 8, "height": 2, "reportSources": SOURCES}


def one_time(report_id, output, time_format, tz="Europe/Berlin", name="Boiler"):
    return {"id": report_id, "name": name, "reportSources": SOURCES,
            "reportType": {"type": "ONE_TIME", "rangeMillis": 86_400_000}, "recipients": "owner@example.com",
            "granularityType": "MINUTE", "isActive": True, "reportOutput": output, "format": time_format,
            "tzName": tz}


@pytest.fixture
def written(mail_server):
    """Three devices on a Report widget; two of them write V5 and V6 in the first minute, which is then
    flushed; device 2 never writes."""
    server, smtp = mail_server
    app = login(server, register=True)
    assert app.create_dash(1, "History") == Status.OK
    tokens = [app.create_device(1, i, name)["token"] for i, name in enumerate(DEVICE_NAMES)]
    assert app.request(Command.CREATE_WIDGET, "1\0" + json.dumps(WIDGET))[2] == Status.OK
    assert app.activate(1) in (Status.OK, Status.DEVICE_NOT_IN_NETWORK)
    boiler, pump = Device(server.host, server.hw_port, tokens[0]), Device(server.host, server.hw_port, tokens[1])
    try:
        boiler.write(5, "21.5")
        boiler.write(6, "1")
        pump.write(5, "19")
        server.wait_recorded(3)
        server.jump(61)
        yield server, smtp, app
    finally:
        boiler.close()
        pump.close()
        app.close()


def export(app, smtp, report):
    """Create the report, run it with EXPORT_REPORT, and return (mail, {entry: raw bytes}) of its zip."""
    command, _, body = app.request(CREATE_REPORT, "1\x00" + json.dumps(report))
    assert command == CREATE_REPORT, body
    command, _, body = app.request(EXPORT_REPORT, f"1\x00{report['id']}")
    assert command == EXPORT_REPORT and json.loads(body)["lastRunResult"] == "OK", body
    _, recipients, message = smtp.mailbox.next()
    assert recipients == ["owner@example.com"]
    link = message.get_body(("html",)).get_content().split('href="')[1].split('"')[0]
    return message, link, zip_entries(link, raw=True)


def texts(entries):
    return {name: csv_text(data) for name, data in entries.items()}


def test_a_file_per_device_and_pin_in_iso_simple_local_time(written):
    server, smtp, app = written
    message, link, entries = export(app, smtp, one_time(1, "CSV_FILE_PER_DEVICE_PER_PIN", "ISO_SIMPLE"))
    assert message["Subject"] == "Your one time Boiler is ready"
    html = message.get_body(("html",)).get_content()
    assert "Report name: Boiler<br>Period: One time" in html and "Blynk" in html.split("--")[-1]
    assert link.startswith(f"http://127.0.0.1:{server.hw_port}/") and link.endswith("_1_2026-01-01.zip")
    assert all(data.startswith(b"\xfe\xff") for data in entries.values())          # UTF-16 BE with its BOM
    assert entries["Boilerroom_0_TempC.csv"] == "\ufeff2026-01-01 11:05:00,21.5\n".encode("utf-16-be")
    assert texts(entries) == {"Boilerroom_0_TempC.csv": "2026-01-01 11:05:00,21.5\n",
                              "Boilerroom_0_v6.csv": "2026-01-01 11:05:00,1.0\n",
                              "Pump;B_1_TempC.csv": "2026-01-01 11:05:00,19.0\n"}   # no file for empty streams


def test_excel_tab_per_device_is_written_per_device_and_pin_with_the_zone_name(written):
    _, smtp, app = written
    _, _, entries = export(app, smtp, one_time(2, "EXCEL_TAB_PER_DEVICE", "ISO_INSTANT_Z", tz="America/New_York"))
    assert texts(entries) == {"Boilerroom_0_TempC.csv": "2026-01-01T05:05:00EST,21.5\n",
                              "Boilerroom_0_v6.csv": "2026-01-01T05:05:00EST,1.0\n",
                              "Pump;B_1_TempC.csv": "2026-01-01T05:05:00EST,19.0\n"}


def test_a_file_per_device_has_the_pin_column_and_an_empty_file_for_a_silent_device(written):
    _, smtp, app = written
    _, _, entries = export(app, smtp, one_time(3, "CSV_FILE_PER_DEVICE", "ISO_INSTANT"))
    assert list(entries) == ["Boilerroom_0.csv", "Pump;B_1.csv", "Idle_2.csv"]
    assert entries["Idle_2.csv"] == b""                    # upstream opens every device's file
    assert texts(entries) == {
        "Boilerroom_0.csv": '2026-01-01T11:05:00+01:00,"Temp, °C",21.5\n2026-01-01T11:05:00+01:00,v6,1.0\n',
        "Pump;B_1.csv": '2026-01-01T11:05:00+01:00,"Temp, °C",19.0\n',
        "Idle_2.csv": ""}
    _, _, entries = export(app, smtp, one_time(4, "CSV_FILE_PER_DEVICE", "ISO_INSTANT", tz="UTC"))
    assert texts(entries)["Pump;B_1.csv"] == '2026-01-01T10:05:00Z,"Temp, °C",19.0\n'   # offset 0 is Z


def test_merged_csv_is_one_file_named_after_the_report_with_epoch_times(written):
    _, smtp, app = written
    message, _, entries = export(app, smtp, one_time(5, "MERGED_CSV", None, name="Boiler: all?"))
    assert message["Subject"] == "Your one time Boiler: all? is ready"
    assert texts(entries) == {"Boilerall.csv": f'{MINUTE},"Temp, °C",Boiler room,21.5\n'
                                               f"{MINUTE},v6,Boiler room,1.0\n"
                                               f'{MINUTE},"Temp, °C","Pump;B",19.0\n'}


def test_a_stream_named_twice_is_written_once_and_unselected_streams_not_at_all(written):
    _, smtp, app = written
    report = one_time(8, None, "TS")                       # no reportOutput: a file per device and pin
    report["reportSources"] = SOURCES + [
        {"type": "DEVICE", "deviceIds": [0], "dataStreams": [STREAMS[1]]},                      # v6 of device 0 again
        {"type": "DEVICE", "deviceIds": [0], "dataStreams": [dict(STREAMS[0], label="Other", isSelected=False)]}]
    _, _, entries = export(app, smtp, report)
    assert texts(entries) == {"Boilerroom_0_TempC.csv": f"{MINUTE},21.5\n", "Boilerroom_0_v6.csv": f"{MINUTE},1.0\n",
                              "Pump;B_1_TempC.csv": f"{MINUTE},19.0\n"}


@pytest.mark.parametrize("field, value", [("reportOutput", "PDF"), ("format", "RFC_1123")])
def test_an_unknown_output_or_time_format_is_a_body_upstream_cannot_read(written, field, value):
    _, _, app = written
    report = dict(one_time(6, "MERGED_CSV", "TS"), **{field: value})
    energy = app.request(Command.GET_ENERGY)[2]
    assert app.request(CREATE_REPORT, "1\x00" + json.dumps(report))[2] == Status.ILLEGAL_COMMAND_BODY
    assert app.request(Command.GET_ENERGY)[2] == energy
    assert app.request(Command.PING)[2] == Status.OK


def test_a_daily_merged_report_runs_at_its_new_york_time_with_upstreams_mail(written):
    server, smtp, app = written
    at_utc = 10 * 3600 + 30 * 60                            # 10:30 UTC = 05:30 in New York in January
    report = daily(7, at_utc, name="Night", reportSources=SOURCES, reportOutput="MERGED_CSV",
                   format="ISO_INSTANT_Z", tzName="America/New_York")
    report["reportType"].update(durationType="CUSTOM", startTs=DAY_START_MS, endTs=DAY_START_MS + 10 * 86_400_000)
    command, _, body = app.request(CREATE_REPORT, "1\x00" + json.dumps(report))
    assert command == CREATE_REPORT and json.loads(body)["nextReportAt"] == DAY_START_MS + at_utc * 1000
    server.jump(20 * 60)                                    # 10:26: nothing yet
    assert smtp.mailbox.next(timeout=0.5) is None
    server.jump(5 * 60)                                     # 10:31: the run has fired
    _, recipients, message = smtp.mailbox.next()
    assert recipients == ["owner@example.com"] and message["Subject"] == "Your daily Night is ready"
    html = message.get_body(("html",)).get_content()
    # the dates of the custom range in New York: midnight UTC of Jan 1st is Dec 31st there
    assert "Report name: Night<br>Period: Daily, at 05:30<br>Start date: 2025-12-31<br>End date: 2026-01-10<br>" \
        in html
    link = html.split('href="')[1].split('"')[0]
    assert link.endswith("_7_2026-01-01.zip")
    assert texts(zip_entries(link, raw=True)) == {
        "Night.csv": '2026-01-01T05:05:00EST,"Temp, °C",Boiler room,21.5\n'
                     "2026-01-01T05:05:00EST,v6,Boiler room,1.0\n"
                     '2026-01-01T05:05:00EST,"Temp, °C","Pump;B",19.0\n'}
    again = login(server)                                    # the first app went idle over the 25 minutes
    try:
        saved = again.load_profile()["dashBoards"][0]["widgets"][0]["reports"][0]
    finally:
        again.close()
    assert saved["lastRunResult"] == "OK" and saved["nextReportAt"] == DAY_START_MS + 86_400_000 + at_utc * 1000


def test_the_mail_says_the_weekly_day_and_the_monthly_day_as_upstream():
    from blynklite.history import reports
    weekly = {"reportType": {"type": "WEEKLY", "atTime": 8 * 3600 * 1000, "dayOfTheWeek": 3}, "tzName": "Asia/Kolkata"}
    assert reports.period_text(weekly) == "Period: Weekly, at 13:30 every Wednesday"
    assert reports.mail_subject(weekly) == "Your weekly Report is ready"             # no name: upstream's "Report"
    monthly = {"reportType": {"type": "MONTHLY", "atTime": 0, "dayOfMonth": "LAST"}, "tzName": "UTC", "name": "Gas"}
    assert reports.period_text(monthly) == "Period: Monthly, at 00:00 at the last day of every month"
    body = reports.mail_body("<p>{DYNAMIC_SECTION}</p><a href=\"{DOWNLOAD_URL}\"></a>{PRODUCT_NAME}",
                             dict(monthly, name="<b>{PRODUCT_NAME}</b>"), "http://h:8080/a.zip", "Blynk")
    assert body == ("<p>Report name: &lt;b&gt;{PRODUCT_NAME}&lt;/b&gt;<br>Period: Monthly, at 00:00 at the last "
                    'day of every month</p><a href="http://h:8080/a.zip"></a>Blynk')
