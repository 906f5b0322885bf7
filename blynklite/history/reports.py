"""Report widget schedules (upstream Report, ReportScheduler, BaseReportTask): when a report runs, which
history it reads, the zip of CSV files it writes, and the mail with its link.

Owns: the report rules (validity, next run in the report's time zone, how many points) and one reactor
timer per active periodic report. Never does: disk or mail on the reactor thread (the zip is written on
a worker, the mail goes through the notifier).

Time: next runs are computed from `reactor.wall_ms` in the report's `tzName` (zoneinfo; UTC when unset
or unknown). Timers live in memory only: at start every active periodic report is scheduled at its
next time after now, so a run missed while the server was down is skipped, as upstream.
"""
import calendar
import datetime
import os
import re
import zipfile

from . import files
from .export import EXPORT_FOLDER, download_url, java_double
from ..logger import get_logger

log = get_logger("blynklite.reports")

REPORT_PRICE = 2900             # energy per report (upstream Report.getPrice)
REPORTS_PER_WIDGET = 25         # upstream limits.reportsLimit
EXPORT_RUN_DELAY_MS = 60_000    # EXPORT_REPORT at most once a minute per report (QUOTA_LIMIT otherwise)
FLUSH_WAIT_SECONDS = 0.25       # a run waits for the minute flush's appends in steps of this,
FLUSH_WAITS = 40                # at most 10 s; then it reads what is on disk
DAY_MS = 86_400_000
DURATION_DAYS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 30}
PERIOD_MS = {"MINUTE": 60_000, "HOURLY": 3_600_000, "DAILY": DAY_MS}
GRANULARITY_FILE = {"MINUTE": files.MINUTE, "HOURLY": files.HOURLY, "DAILY": files.DAILY}
TIME_FORMATS = {"ISO_SIMPLE": "%Y-%m-%d %H:%M:%S", "ISO_INSTANT": "iso", "ISO_INSTANT_Z": "%Y-%m-%dT%H:%M:%S%Z"}
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[A-Za-z]+$")


def zone_of(report):
    name = report.get("tzName") or "UTC"
    try:
        import zoneinfo
        return zoneinfo.ZoneInfo(name)
    except (ImportError, ValueError, KeyError, OSError):
        return datetime.timezone.utc


def kind(report):
    return (report.get("reportType") or {}).get("type")


def is_periodic(report):
    return kind(report) in DURATION_DAYS


def duration_days(report):
    if kind(report) == "ONE_TIME":
        return int((report["reportType"].get("rangeMillis") or 0) // DAY_MS)
    return DURATION_DAYS.get(kind(report), 0)


def is_valid(report):
    """Upstream Report.isValid: a known type that is valid, some sources, and valid recipients."""
    rtype = report.get("reportType")
    if not isinstance(rtype, dict) or kind(report) not in ("ONE_TIME", *DURATION_DAYS):
        return False
    if kind(report) == "ONE_TIME" and duration_days(report) <= 0:
        return False
    if is_periodic(report) and (rtype.get("startTs") or 0) > (rtype.get("endTs") or 0):
        return False
    recipients = [r.strip() for r in str(report.get("recipients") or "").split(",")]
    sources = report.get("reportSources")
    return bool(sources) and isinstance(sources, list) and all(_EMAIL.match(r) for r in recipients)


def next_run(report, now_ms):
    """Epoch ms of the next run of a periodic report after `now_ms`, None when it has expired."""
    rtype, zone = report["reportType"], zone_of(report)
    now = datetime.datetime.fromtimestamp(now_ms / 1000, zone)
    at = datetime.datetime.fromtimestamp((rtype.get("atTime") or 0) / 1000, zone)
    start = now.replace(hour=at.hour, minute=at.minute, second=at.second, microsecond=0)
    custom = rtype.get("durationType") == "CUSTOM"
    if custom:
        first_day = datetime.datetime.fromtimestamp((rtype.get("startTs") or 0) / 1000, zone).date()
        if first_day > now.date():
            start = start.replace(year=first_day.year, month=first_day.month, day=first_day.day)
    start = _adjust(kind(report), rtype, start, now)
    if custom:
        last_day = datetime.datetime.fromtimestamp((rtype.get("endTs") or 0) / 1000, zone).date()
        if start.date() > last_day:
            return None
    return int(start.timestamp() * 1000)


def _adjust(rkind, rtype, start, now):
    if rkind == "WEEKLY":
        weekday = min(7, max(1, rtype.get("dayOfTheWeek") or 1)) - 1       # Monday = 1, as upstream
        start = start + datetime.timedelta(days=(weekday - start.weekday()) % 7)
        return start if start > now else start + datetime.timedelta(days=7)
    if rkind == "MONTHLY":
        last = rtype.get("dayOfMonth") == "LAST"
        start = _month_day(start, last)
        if start > now:
            return start
        following = start.replace(day=1) + datetime.timedelta(days=32)
        return _month_day(following, last)
    return start if start > now else start + datetime.timedelta(days=1)


def _month_day(moment, last):
    day = calendar.monthrange(moment.year, moment.month)[1] if last else 1
    return moment.replace(day=day)


def fetch_count(report):
    granularity = report.get("granularityType") or "MINUTE"
    return duration_days(report) * DAY_MS // PERIOD_MS.get(granularity, 60_000)


def format_time(ts, style, zone):
    if style in (None, "TS") or style not in TIME_FORMATS:
        return str(ts)
    moment = datetime.datetime.fromtimestamp(ts / 1000, zone)
    if TIME_FORMATS[style] == "iso":
        return moment.replace(microsecond=0).isoformat()
    return moment.strftime(TIME_FORMATS[style])


def report_sources(report, dash, path_of):
    """[(zip entry name, path)] for each (device, data stream) of a report (upstream's file per device
    per pin); `path_of(device_id, pin_type, pin, granularity)` gives the history file."""
    granularity = GRANULARITY_FILE.get(report.get("granularityType") or "MINUTE", files.MINUTE)
    out = []
    for source in report.get("reportSources") or ():
        if not isinstance(source, dict):
            continue
        for device_id in source.get("deviceIds") or ():
            device = dash.device(device_id) if isinstance(device_id, int) else None
            name = (device.name if device is not None and device.name else "") or "device"
            for stream in source.get("dataStreams") or source.get("reportDataStreams") or ():
                pin, pin_type = stream.get("pin"), stream.get("pinType") or "VIRTUAL"
                if not (isinstance(pin, int) and pin_type in files.PIN_TYPE_LETTERS and stream.get("isSelected", True)):
                    continue
                label = re.sub(r"[^a-zA-Z0-9]", "", stream.get("label") or "")[:16] or \
                    f"{files.PIN_TYPE_LETTERS[pin_type]}{pin}"
                out.append((f"{name}_{device_id}_{label}.csv", path_of(device_id, pin_type, pin, granularity)))
    return out


def write_zip(name, entries, count, start_from, style, zone, folder=EXPORT_FOLDER):
    """On a worker: the report zip (one `time,value` CSV per device and pin, points from `start_from`);
    its path, or None when no entry had data (no file is left)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    written = 0
    with zipfile.ZipFile(path + ".part", "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, history_file in entries:
            lines = [f"{format_time(ts, style, zone)},{java_double(value)}\n"
                     for value, ts in files.unpack(files.read_window(history_file, count)) if ts >= start_from]
            if lines:
                archive.writestr(entry, "".join(lines))
                written += 1
    if not written:
        os.remove(path + ".part")
        return None
    os.replace(path + ".part", path)
    return path


class ReportScheduler:
    """One timer per active periodic report; a run writes the zip on a worker and mails its link."""

    def __init__(self, server):
        self.server = server
        self.timers = {}        # (email, appName, dash_id, report_id) → reactor Timer

    def start(self):
        for user in list(self.server.hub.users.values()):
            for dash in user.profile.dashboards:
                widget = dash.widget_of_type("REPORT")
                for report in (widget or {}).get("reports") or ():
                    if isinstance(report, dict) and report.get("isActive") and is_periodic(report) and is_valid(report):
                        self.schedule(user, dash.id, report)

    def schedule(self, user, dash_id, report):
        """(Re)arm a periodic report at its next run; False when it has expired."""
        self.cancel(user, dash_id, report.get("id"))
        now = self.server.reactor.wall_ms
        when = next_run(report, now)
        if when is None:
            return False
        report["nextReportAt"] = when
        key = (user.email, user.app_name, dash_id, report.get("id"))
        self.timers[key] = self.server.reactor.call_later((when - now) / 1000, self._fire, user, dash_id, report)
        return True

    def cancel(self, user, dash_id, report_id):
        timer = self.timers.pop((user.email, user.app_name, dash_id, report_id), None)
        if timer is not None:
            timer.cancel()

    def forget(self, user, dash_id=None):
        """Cancel the timers of an account (or of one of its dashboards) that was deleted."""
        for key in [k for k in self.timers if k[:2] == (user.email, user.app_name)
                    and (dash_id is None or k[2] == dash_id)]:
            self.timers.pop(key).cancel()

    def _fire(self, user, dash_id, report):
        self.timers.pop((user.email, user.app_name, dash_id, report.get("id")), None)
        self.run(user, dash_id, report)
        if report.get("isActive") and self.server.hub.get_user(user.email, user.app_name) is user:
            self.schedule(user, dash_id, report)

    def run(self, user, dash_id, report, on_done=None, waited=0):
        """Generate now: zip on a worker, then the mail; `on_done(result)` with OK/NO_DATA/ERROR.
        A run that meets the minute flush still appending waits for it (briefly), so the report
        includes the minute that has just ended."""
        history = self.server.history
        if history.pending_writes() and waited < FLUSH_WAITS:
            self.server.reactor.call_later(FLUSH_WAIT_SECONDS, self.run, user, dash_id, report, on_done, waited + 1)
            return
        dash = user.profile.dashboard(dash_id)
        if dash is None:
            self._finished(user, report, "ERROR", on_done)
            return
        zone, now = zone_of(report), self.server.reactor.wall_ms
        period = PERIOD_MS.get(report.get("granularityType") or "MINUTE", 60_000)
        start_from = (now - duration_days(report) * DAY_MS) // period * period
        entries = report_sources(report, dash, lambda d, t, p, g: history.path(user, dash_id, d, t, p, g))
        date = datetime.datetime.fromtimestamp(now / 1000, zone).date().isoformat()
        name = f"{user.email}_{user.app_name}_{report.get('id')}_{date}.zip"
        args = (name, entries, fetch_count(report), start_from, report.get("format"), zone)

        def written(path, error):
            if error is not None:
                log.error("report %s of %s failed: %s", report.get("id"), user.email, error)
                self._finished(user, report, "ERROR", on_done)
            elif path is None:
                self._finished(user, report, "NO_DATA", on_done)
            else:
                self._mail(user, report, os.path.basename(path), on_done)
        if not self.server.workers.submit(write_zip, *args, on_done=written):
            self._finished(user, report, "ERROR", on_done)

    def _mail(self, user, report, file_name, on_done):
        label = {"ONE_TIME": "one time", "DAILY": "daily", "WEEKLY": "weekly", "MONTHLY": "monthly"}[kind(report)]
        title = report.get("name") or "Report"
        link = download_url(self.server) + file_name
        body = (f"<html><body><p>Report name: {_html(title)}<br>Period: {label.capitalize()}</p>"
                f'<p><a href="{_html(link)}">Download the report</a></p></body></html>')
        recipients = [r.strip() for r in str(report.get("recipients")).split(",") if r.strip()]
        waiting, failed = [len(recipients)], []

        def sent(error):            # one mail per recipient; the run is OK when every one went out
            failed.extend([error] if error else [])
            waiting[0] -= 1
            if waiting[0] == 0:
                self._finished(user, report, "ERROR" if failed else "OK", on_done)
        for recipient in recipients:
            if not self.server.notifier.mail(recipient, f"Your {label} {title} is ready", body, html=True,
                                             on_result=sent):
                sent(RuntimeError("notification queue full"))

    def _finished(self, user, report, result, on_done):
        report["lastReportAt"] = self.server.reactor.wall_ms
        report["lastRunResult"] = result
        self.server.hub.mark_dirty(user)
        if on_done is not None:
            on_done(result)


def _html(text):
    import html
    return html.escape(str(text))
