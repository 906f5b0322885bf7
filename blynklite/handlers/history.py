"""App commands on history (spec/app.md §4.13, storage.md §5.4, §6): GET_ENHANCED_GRAPH_DATA (60),
DELETE_ENHANCED_GRAPH_DATA (61), EXPORT_GRAPH_DATA (28), DELETE_DEVICE_DATA (76) and the Report widget's
CREATE/UPDATE/DELETE/EXPORT_REPORT (77-80).

Every file access runs on the worker pool; the reply comes back on the reactor thread, and is dropped
when the app has gone meanwhile. Upstream's statuses: ILLEGAL_COMMAND for a bad body or widget, NO_DATA
when nothing was recorded, SERVER_ERROR when a read failed, NOTIFICATION_ERROR when the mail failed.
"""
import json

from ..codec import json_text
from ..codec.body import parse_int, parse_long
from ..codec.commands import Command, Status, illegal_body, illegal_command
from ..history import export, files, graph, reports
from ..history.periods import PERIODS
from ..history.recorder import CHART, find_widget, target_devices
from .app_profile import dashboard_or_fail
from ..logger import get_logger

log = get_logger("blynklite.history")


def split_target(field):
    """`dashId[-targetId]` → (dash id, target id or -1) as upstream's split2Device."""
    dash_part, sep, target_part = field.partition("-")
    return parse_int(dash_part), parse_int(target_part) if sep else -1


def _superchart(dash, widget_id):
    widget = find_widget(dash, widget_id)
    if widget is None or widget.get("type") != CHART:
        raise illegal_command("Passed wrong widget id.")
    return widget


def _reply_later(session, msg_id):
    """on_done for a worker task whose result is (command, body) or a status."""
    def done(result, error):
        if session.conn.closed:
            return
        if error is not None:
            log.error("history for %s failed: %s", session.user.email, error)
            session.respond(msg_id, Status.SERVER_ERROR)
        elif isinstance(result, int):
            session.respond(msg_id, result)
        else:
            session.send(result[0], msg_id, result[1])
    return done


def _submit(session, msg_id, work, *args):
    if not session.server.workers.submit(work, *args, on_done=_reply_later(session, msg_id)):
        session.respond(msg_id, Status.SERVER_ERROR)


# -- 60 --------------------------------------------------------------------------------------------
def get_enhanced_graph_data(session, msg_id, text):
    parts = text.split("\0")
    if len(parts) < 3:
        raise illegal_command("Wrong income message format.")
    dash_id, target = split_target(parts[0])
    widget_id = parse_long(parts[1])
    period = parts[2]
    page = parse_int(parts[3]) if len(parts) == 4 else 0
    if page < 0:
        raise illegal_command("a page is 0 or more")
    if period not in PERIODS:
        log.debug("%s: unknown graph period %r; no reply, as upstream", session.describe(), period)
        return
    dash = dashboard_or_fail(session, dash_id)
    widget = _superchart(dash, widget_id)
    if not widget.get("dataStreams"):
        session.respond(msg_id, Status.NO_DATA)
        return
    count = PERIODS[period][0]
    requests = session.server.history.graph_requests(session.user, dash, widget, target, period, count * page)
    _submit(session, msg_id, _read_graph, dash.id, requests, count, count * page)


def _read_graph(dash_id, requests, count, skip):
    body = graph.payload(dash_id, [graph.read_one(r, count, skip) for r in requests])
    return Status.NO_DATA if body is None else (Command.GET_ENHANCED_GRAPH_DATA, body)


# -- 61 --------------------------------------------------------------------------------------------
def delete_enhanced_graph_data(session, msg_id, text):
    parts = text.split("\0", 2)
    if len(parts) < 2:
        raise illegal_command("Wrong income message format.")
    dash_id, target = split_target(parts[0])
    dash = dashboard_or_fail(session, dash_id)
    widget = _superchart(dash, parse_long(parts[1]))
    history = session.server.history
    names = []
    for stream_target, pin_type, pin, _ in graph.superchart_streams(widget):   # upstream: every stream
        if pin is None:
            continue
        devices, _ = target_devices(dash, stream_target if target == -1 else target)
        for device_id in devices:
            names += [files.file_name(dash.id, device_id, pin_type, pin, g) for g in files.GRANULARITIES]
    _submit(session, msg_id, _delete, history.user_folder(session.user), names)


def _delete(folder, prefixes):
    """On a worker: every history file whose name starts with one of `prefixes` (or is one of them)."""
    files.delete_matching(folder, prefixes)
    return Status.OK


# -- 76 --------------------------------------------------------------------------------------------
def delete_device_data(session, msg_id, text):
    parts = text.split("\0", 1)
    dash_part, sep, device_part = parts[0].partition("-")
    if not sep:
        raise illegal_command("Wrong income message format.")
    dash = dashboard_or_fail(session, parse_int(dash_part))
    if session.share_dash_id is not None:
        report = dash.widget_of_type("REPORT")
        if report is None:
            raise illegal_command("No reporting widget.")
        if not report.get("allowEndUserToDeleteDataOn"):
            session.respond(msg_id, Status.NOT_ALLOWED)
            return
    if device_part == "*":
        prefixes = [files.device_prefix(dash.id, d.id) for d in dash.devices]
    elif len(parts) == 1:
        prefixes = [files.device_prefix(dash.id, parse_int(device_part))]
    else:
        device_id = parse_int(device_part)
        prefixes = [f"{files.device_prefix(dash.id, device_id)}{pin}_" for pin in parts[1].split("\0") if pin]
    if not prefixes:
        session.ok(msg_id)
        return
    _submit(session, msg_id, _delete, session.server.history.user_folder(session.user), prefixes)


# -- 28 --------------------------------------------------------------------------------------------
def export_graph_data(session, msg_id, text):
    parts = text.split("\0")
    if len(parts) < 2:
        raise illegal_command("Wrong income message format.")
    dash_id, target = split_target(parts[0])
    dash = dashboard_or_fail(session, dash_id)
    widget = _superchart(dash, parse_long(parts[1]))
    server, user = session.server, session.user
    jobs, columns = [], []
    for stream_target, pin_type, pin, _ in graph.superchart_streams(widget):
        if pin is None:
            continue
        device_id = stream_target if target == -1 else target
        devices = [device_id]
        if device_id >= graph.DEVICE_SELECTOR_START_ID:
            devices, _ = target_devices(dash, device_id, all_selectable=True)
        device = dash.device(device_id)
        name = device.name if device is not None and device.name else (dash.name or "")
        minute_files = [(d, server.history.path(user, dash.id, d, pin_type, pin, files.MINUTE)) for d in devices]
        file_name = export.export_name(user.email, dash.id, device_id, pin_type, pin, server.reactor.wall_ms)
        jobs.append((file_name, minute_files, f"{name} {files.PIN_TYPE_LETTERS[pin_type]}{pin}"))
        columns += [(_column_title(dash, d, pin_type, pin), path) for d, path in minute_files]
    subject = f"History graph data for project {dash.name or ''}"
    max_points = server.config["csv.export.data.points.max"]
    zone_name, zone = _dashboard_zone(dash)
    sheet = (f"{user.email}_{dash.id}_chart{widget.get('id')}_{server.reactor.wall_ms}.sheet{export.CSV_SUFFIX}",
             columns, zone, f"All streams in one table (spreadsheet, {zone_name} time)")
    if not server.workers.submit(_write_exports, jobs, sheet, max_points,
                                 on_done=lambda links, error: _mail_links(session, msg_id, subject, links, error)):
        session.respond(msg_id, Status.SERVER_ERROR)


def _column_title(dash, device_id, pin_type, pin):
    device = dash.device(device_id)
    name = device.name if device is not None and device.name else f"device {device_id}"
    return f"{name} {files.PIN_TYPE_LETTERS[pin_type]}{pin}"


def _dashboard_zone(dash):
    """The spreadsheet's time zone: the project's RTC widget zone, else UTC."""
    rtc = dash.widget_of_type("RTC")
    name = (rtc or {}).get("tzName") or "UTC"
    try:
        import zoneinfo
        return name, zoneinfo.ZoneInfo(name)
    except (ImportError, ValueError, KeyError, OSError):
        import datetime
        return "UTC", datetime.timezone.utc


def _write_exports(jobs, sheet, max_points):
    """On a worker: one upstream CSV per stream, then the spreadsheet form of all of them."""
    links = []
    for file_name, minute_files, title in jobs:
        try:
            export.write_seed_csv(export.EXPORT_FOLDER, file_name, minute_files, max_points)
            links.append((file_name, title))
        except export.NoData:
            pass
        except OSError as error:
            log.error("CSV export %s failed: %s", file_name, error)
    sheet_name, columns, zone, title = sheet
    if links:
        try:
            export.write_sheet_csv(export.EXPORT_FOLDER, sheet_name, columns, max_points, zone)
            links.append((sheet_name, title))
        except (export.NoData, OSError) as error:
            log.error("spreadsheet export %s failed: %s", sheet_name, error)
    return links


def _mail_links(session, msg_id, subject, links, error):
    if error is not None or not links:
        if not session.conn.closed:
            session.respond(msg_id, Status.SERVER_ERROR if error else Status.NO_DATA)
        return
    server = session.server
    base = export.download_url(server)
    body = "<html><body>" + "".join(f'<a href="{base}{name}">{_html(title)}</a><br>' for name, title in links) \
        + "</body></html>"

    def sent(mail_error):
        if not session.conn.closed:
            session.respond(msg_id, Status.NOTIFICATION_ERROR if mail_error else Status.OK)
    if not server.notifier.mail(session.user.email, subject, body, html=True, on_result=sent):
        session.respond(msg_id, Status.NOTIFICATION_ERROR)


def _html(text):
    import html
    return html.escape(str(text))


HANDLERS = {
    Command.GET_ENHANCED_GRAPH_DATA: get_enhanced_graph_data,
    Command.DELETE_ENHANCED_GRAPH_DATA: delete_enhanced_graph_data,
    Command.DELETE_DEVICE_DATA: delete_device_data,
    Command.EXPORT_GRAPH_DATA: export_graph_data,
}


# -- 77-80: the Report widget ----------------------------------------------------------------------
CREATE_REPORT, UPDATE_REPORT, DELETE_REPORT, EXPORT_REPORT = 77, 78, 79, 80   # spec/commands.md


def _report_widget(session, text):
    dash_part, sep, rest = text.partition("\0")
    if not sep or not rest:
        raise illegal_command("Wrong income message format.")
    dash = dashboard_or_fail(session, parse_int(dash_part))
    widget = dash.widget_of_type("REPORT")
    if widget is None:
        raise illegal_command("Project has no reporting widget.")
    return dash, widget, rest


def _parse_report(text):
    try:
        report = json_text.loads(text)
    except ValueError:
        raise illegal_body("Error parsing report.") from None
    if not isinstance(report, dict) or not isinstance(report.get("id"), int) or not reports.known_choices(report):
        raise illegal_body("Error parsing report.")
    return report


def _arm(session, dash, report):
    """Set nextReportAt and (re)schedule a periodic report; ILLEGAL_COMMAND_BODY once expired."""
    scheduler = session.server.history.reports
    scheduler.cancel(session.user, dash.id, report["id"])
    if not reports.is_periodic(report):
        return
    when = reports.next_run(report, session.server.reactor.wall_ms)
    if when is None:
        raise illegal_body("Report is expired.")
    report["nextReportAt"] = when
    if report.get("isActive"):
        scheduler.schedule(session.user, dash.id, report)


def _saved(session, dash, msg_id, command, report):
    dash.updated_at = session.server.reactor.wall_ms
    session.server.hub.mark_dirty(session.user)
    session.send(command, msg_id, json.dumps(report, separators=(",", ":")))


def create_report(session, msg_id, text):
    dash, widget, body = _report_widget(session, text)
    existing = widget.get("reports") or []
    if len(existing) >= reports.REPORTS_PER_WIDGET:
        raise illegal_command("User reached reports limit.")
    report = _parse_report(body)
    if any(r.get("id") == report["id"] for r in existing if isinstance(r, dict)):
        raise illegal_command("Report with passed id already exists.")
    user = session.user
    if user.energy < reports.REPORT_PRICE:
        session.respond(msg_id, Status.ENERGY_LIMIT)
        return
    if not reports.is_valid(report):
        raise illegal_command("Report is not valid.")
    _arm(session, dash, report)
    user.energy -= reports.REPORT_PRICE
    widget["reports"] = existing + [report]
    dash.widgets_changed()          # the report's pins are logged from now on
    _saved(session, dash, msg_id, CREATE_REPORT, report)


def update_report(session, msg_id, text):
    dash, widget, body = _report_widget(session, text)
    report = _parse_report(body)
    existing = widget.get("reports") or []
    index = next((i for i, r in enumerate(existing) if isinstance(r, dict) and r.get("id") == report["id"]), None)
    if index is None:
        raise illegal_command("Cannot find report with provided id.")
    if not reports.is_valid(report):
        raise illegal_command("Report is not valid.")
    _arm(session, dash, report)
    existing[index] = report
    dash.widgets_changed()
    _saved(session, dash, msg_id, UPDATE_REPORT, report)


def delete_report(session, msg_id, text):
    dash, widget, body = _report_widget(session, text)
    report_id = parse_int(body)
    existing = widget.get("reports") or []
    index = next((i for i, r in enumerate(existing) if isinstance(r, dict) and r.get("id") == report_id), None)
    if index is None:
        raise illegal_command("Cannot find report with provided id.")
    session.server.history.reports.cancel(session.user, dash.id, report_id)
    session.user.energy += reports.REPORT_PRICE
    del existing[index]
    dash.widgets_changed()
    dash.updated_at = session.server.reactor.wall_ms
    session.server.hub.mark_dirty(session.user)
    session.ok(msg_id)


def export_report(session, msg_id, text):
    dash, widget, body = _report_widget(session, text)
    report_id = parse_int(body)
    report = next((r for r in widget.get("reports") or () if isinstance(r, dict) and r.get("id") == report_id), None)
    if report is None:
        raise illegal_command("Cannot find report with passed id.")
    if not reports.is_valid(report):
        raise illegal_command("Report is not valid.")
    if (report.get("lastReportAt") or 0) + reports.EXPORT_RUN_DELAY_MS > session.server.reactor.wall_ms:
        session.respond(msg_id, Status.QUOTA_LIMIT)
        return

    def done(result):
        if session.conn.closed:
            return
        if result == "ERROR":
            session.respond(msg_id, Status.ILLEGAL_COMMAND)
        else:
            session.send(EXPORT_REPORT, msg_id, json.dumps(report, separators=(",", ":")))
    session.server.history.reports.run(session.user, dash.id, report, on_done=done)


HANDLERS.update({
    CREATE_REPORT: create_report,
    UPDATE_REPORT: update_report,
    DELETE_REPORT: delete_report,
    EXPORT_REPORT: export_report,
})
