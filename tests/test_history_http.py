"""History over HTTP and mail: `/{token}/data/{pin}` (upstream's CSV and the spreadsheet form), the export
links, HTTP `extra/pin` points recorded at their own stamps, and EXPORT_GRAPH_DATA's mail with links
that download the CSV. Real server (stepped clock), real SMTP peer, real HTTP."""
import gzip
import json
import urllib.request

import pytest

from blynklite.codec.commands import Command, Status

from devices import http_call
from history_support import SteppedServer
from test_history_server import START, Device, chart, open_project

MIN_MS = 60_000


def http_get(server, path):
    return http_call(server, "GET", path, timeout=10)


def http_put(server, path, payload):
    status, _, body = http_call(server, "PUT", path, json.dumps(payload), {"Content-Type": "application/json"}, 10)
    return status, body


@pytest.fixture
def stepped(tmp_path):
    server = SteppedServer(tmp_path / "s", wall=START)
    yield server
    server.stop()


def test_data_csv_follows_upstream_and_the_sheet_form_has_local_times(stepped):
    app, (token,) = open_project(stepped, [chart(7, (0, 5, "AVG"), (0, 6, "AVG"))])
    minute = (START * 1000) // MIN_MS * MIN_MS
    assert http_get(stepped, f"/{token}/data/v5")[0:3:2] == (400, b"No data.")
    assert http_get(stepped, f"/{token}/data/x5")[0:3:2] == (400, b"Wrong pin format.")
    assert http_get(stepped, f"/{'z' * 32}/data/v5")[0:3:2] == (400, b"Invalid token.")
    assert http_put(stepped, f"/{token}/extra/pin/v5", [
        {"ts": minute - 2 * MIN_MS, "value": "1.11"}, {"ts": minute - MIN_MS, "value": "100"},
        {"ts": minute - MIN_MS + 5, "value": "200"}, {"ts": minute, "value": "0.0001"}]) == (200, b"")
    http_put(stepped, f"/{token}/extra/pin/v6", [{"ts": minute - MIN_MS, "value": "7"}])
    stepped.jump(61)
    status, headers, _ = http_get(stepped, f"/{token}/data/v5")
    assert status == 301
    location = headers["Location"]
    assert location.startswith(f"/hist@example.com_1_0_v5_") and location.endswith(".csv.gz")
    status, headers, body = http_get(stepped, location)
    assert status == 200 and headers["Content-Type"] == "application/x-gzip"
    assert gzip.decompress(body).decode() == (f"1.11,{minute - 2 * MIN_MS},0\n150.0,{minute - MIN_MS},0\n"
                                              f"1.0E-4,{minute},0\n")
    assert http_get(stepped, "/csv" + location)[2] == body

    status, headers, _ = http_get(stepped, f"/{token}/data/v5,v6?format=sheet&tz=Asia/Kolkata")
    assert status == 301
    with urllib.request.urlopen(f"http://{stepped.host}:{stepped.hw_port}{headers['Location']}", timeout=10) as r:
        sheet = gzip.decompress(r.read()).decode()
    assert sheet == ("time,v5,v6\n2026-01-01T15:33:00,1.11,\n2026-01-01T15:34:00,150.0,7.0\n"
                     "2026-01-01T15:35:00,1.0E-4,\n")
    assert http_get(stepped, f"/{token}/data/v5?format=sheet&tz=Mars/Olympus")[0:3:2] == (400, b"Wrong time zone.")
    assert http_get(stepped, "/..%2Fetc%2Fpasswd.gz")[0] == 404
    assert http_get(stepped, "/csv/nothing-here.csv.gz")[0] == 404
    app.close()


def test_export_graph_data_mails_working_links(tmp_path):
    pytest.importorskip("aiosmtpd")
    from notify.peers import SmtpServer
    with SmtpServer() as smtp:
        mail = {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": smtp.port, "mail.smtp.auth": "false",
                "mail.smtp.username": "blynk@example.com", "mail.smtp.starttls.enable": "false",
                "mail.from": "Blynk <blynk@example.com>"}
        server = SteppedServer(tmp_path / "m", wall=START, files={"mail.properties": mail})
        try:
            app, (token,) = open_project(server, [chart(7, (0, 5, "AVG"), (0, 9, "AVG"))])
            assert app.request(Command.EXPORT_GRAPH_DATA, "1\x007")[2] == Status.NO_DATA
            device = Device(server.host, server.hw_port, token)
            device.write(5, "42")
            server.wait_recorded(1)
            server.jump(61)
            device.close()
            assert app.request(Command.EXPORT_GRAPH_DATA, "1\x007")[2] == Status.OK
            sender, recipients, message = smtp.mailbox.next()
            assert recipients == ["hist@example.com"]
            assert message["Subject"] == "History graph data for project History"
            html = message.get_body(("html",)).get_content()
            assert html.count("<a href=") == 2 and ">dev0 v5</a>" in html    # v9 has no data: no link
            link, sheet = [part.split('"')[0] for part in html.split('href="')[1:]]
            assert link.startswith(f"http://127.0.0.1:{server.hw_port}/hist@example.com_1_0_v5_")
            minute = (START * 1000) // MIN_MS * MIN_MS
            with urllib.request.urlopen(link, timeout=10) as response:
                assert gzip.decompress(response.read()) == f"42.0,{minute},0\n".encode()
            assert "All streams in one table (spreadsheet, UTC time)" in html
            with urllib.request.urlopen(sheet, timeout=10) as response:
                assert gzip.decompress(response.read()).decode() == "time,dev0 v5,dev0 v9\n2026-01-01T10:05:00,42.0,\n"
            app.close()
        finally:
            server.stop()
