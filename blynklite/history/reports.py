"""Report widget schedules and outputs (upstream Report, ReportScheduler, BaseReportTask): when a report
runs, which history it reads, the zip it writes in the report's output layout, and the mail with its link.

Owns: the report rules (validity, next run in the report's time zone, how many points), the zip layouts
of `reportOutput` (a CSV per device and pin, a CSV per device, one merged CSV; upstream writes
EXCEL_TAB_PER_DEVICE as per device and pin too), their names, columns and encoding, the mail's subject and
text, and one reactor timer per active periodic report. Never does: disk or mail on the reactor thread
(the zip and the mail template are read and written on a worker, the mail goes through the notifier).

Invariant: every CSV in a report zip is upstream's: UTF-16 big-endian with a byte order mark, `\n` line
ends, the time first (in the report's `format` and time zone), the value last as Java's Double.toString,
each stream's points oldest first and streams in the report's order. Zip entry names never hold a path
separator (upstream's file-name cleaning).

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
# upstream Format: ISO_SIMPLE 2018-06-07 22:01:20, ISO_INSTANT 2018-06-07T22:01:20+03:00 (Z at offset 0),
# ISO_INSTANT_Z 2018-06-07T22:01:20EEST (the zone's short name); TS or none: epoch milliseconds
TIME_FORMATS = {"ISO_SIMPLE": "%Y-%m-%d %H:%M:%S", "ISO_INSTANT": "%Y-%m-%dT%H:%M:%S",
                "ISO_INSTANT_Z": "%Y-%m-%dT%H:%M:%S"}
FORMATS = ("ISO_SIMPLE", "ISO_INSTANT", "ISO_INSTANT_Z", "TS")
# upstream ReportOutput; EXCEL_TAB_PER_DEVICE has no writer of its own upstream: it is written per device and pin
PER_PIN, PER_DEVICE, MERGED, EXCEL = ("CSV_FILE_PER_DEVICE_PER_PIN", "CSV_FILE_PER_DEVICE", "MERGED_CSV",
                                      "EXCEL_TAB_PER_DEVICE")
OUTPUTS = (PER_PIN, PER_DEVICE, MERGED, EXCEL)
REPORT_ENCODING = "utf-16-be"   # upstream's Java UTF_16: big-endian, behind a byte order mark
BYTE_ORDER_MARK = "\ufeff"
NAME_PART_MAX = 16              # upstream truncates device names, pin labels and report names to 16 chars
NOT_IN_FILE_NAMES = re.compile(r'[\\/:*?"<>| ]')       # upstream StringUtils.truncateFileName drops these
NOT_IN_PIN_FILE_NAMES = re.compile(r"[^a-zA-Z0-9]")      # upstream ReportDataStream.formatForFileName keeps these
MAIL_TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static",
                             "report-mail.html")
PERIOD_LABELS = {"ONE_TIME": "One time", "DAILY": "Daily", "WEEKLY": "Weekly", "MONTHLY": "Monthly"}
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")   # Locale.US
MONTH_DAY_LABELS = {"FIRST": "at the first day of every month", "LAST": "at the last day of every month"}
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
        start = start + datetime.timedelta(days=(weekday(rtype) - start.weekday()) % 7)
        return start if start > now else start + datetime.timedelta(days=7)
    if rkind == "MONTHLY":
        last = rtype.get("dayOfMonth") == "LAST"
        start = _month_day(start, last)
        if start > now:
            return start
        following = start.replace(day=1) + datetime.timedelta(days=32)
        return _month_day(following, last)
    return start if start > now else start + datetime.timedelta(days=1)


def weekday(rtype):
    """0 for Monday: upstream's dayOfTheWeek counts from Monday = 1 (out of range: the nearest day)."""
    day = rtype.get("dayOfTheWeek")
    return min(7, max(1, day if isinstance(day, int) else 1)) - 1


def _month_day(moment, last):
    day = calendar.monthrange(moment.year, moment.month)[1] if last else 1
    return moment.replace(day=day)


def fetch_count(report):
    granularity = report.get("granularityType") or "MINUTE"
    return duration_days(report) * DAY_MS // PERIOD_MS.get(granularity, 60_000)


def known_choices(report):
    """Upstream parses `reportOutput` and `format` as enums: an unknown name is a body it cannot read
    (a missing one is the default)."""
    return report.get("reportOutput") in (None, *OUTPUTS) and report.get("format") in (None, *FORMATS)


def output_of(report):
    return report.get("reportOutput") or PER_PIN


def format_time(ts, style, zone):
    """A point's time as upstream's `format` writes it in `zone`; epoch ms for TS or none."""
    pattern = TIME_FORMATS.get(style)
    if pattern is None:
        return str(ts)
    moment = datetime.datetime.fromtimestamp(ts / 1000, zone)
    text = moment.strftime(pattern)
    if style == "ISO_INSTANT":
        return text + _offset(moment.utcoffset())
    if style == "ISO_INSTANT_Z":
        return text + (moment.tzname() or "")
    return text


def _offset(delta):
    """Java's XXX: `Z` at offset zero, else +HH:MM (+HH:MM:SS when seconds are set)."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "Z"
    sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
    text = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}"
    return text + (f":{seconds % 60:02d}" if seconds % 60 else "")


def file_name_part(name):
    """Upstream truncateFileName: no `\\/:*?"<>|` or space, at most 16 characters."""
    return NOT_IN_FILE_NAMES.sub("", name or "")[:NAME_PART_MAX]


def escape_cell(text):
    """Upstream StringUtils.escapeCSV: quotes doubled, the cell quoted when it holds , ; or \"."""
    text = text.replace('"', '""')
    return f'"{text}"' if any(c in text for c in ',;"') else text


def pin_name(stream):
    return f"{files.PIN_TYPE_LETTERS[stream['pinType']]}{stream['pin']}"


def pin_for_file_name(stream):
    """Upstream formatForFileName: the label's letters and digits (16 at most), else `v5`."""
    label = stream.get("label")
    return NOT_IN_PIN_FILE_NAMES.sub("", str(label))[:NAME_PART_MAX] if label else pin_name(stream)


def pin_cell(stream):
    """Upstream formatAndEscapePin: the label (16 characters at most) as a CSV cell, else `v5`."""
    label = stream.get("label")
    return escape_cell(str(label)[:NAME_PART_MAX]) if label else pin_name(stream)


def device_file_name(dash, device_id):
    """Upstream Profile.getDeviceName: the cleaned name, empty when the device is gone."""
    device = dash.device(device_id)
    return file_name_part(str(device.name or "")) if device is not None else ""


def device_cell(dash, device_id):
    """Upstream Profile.getCSVDeviceName: the name as a CSV cell, the id when there is no name."""
    device = dash.device(device_id)
    return escape_cell(str(device.name)) if device is not None and device.name else str(device_id)


def _valid_stream(stream):
    """Upstream ReportDataStream.isValid: selected, and a real pin."""
    return isinstance(stream, dict) and stream.get("isSelected") is True and \
        isinstance(stream.get("pin"), int) and 0 <= stream["pin"] <= 255 and \
        (stream.get("pinType") or "VIRTUAL") in files.PIN_TYPE_LETTERS


def report_streams(report):
    """[(device_id, [stream, ...])] of the report's valid sources, in its order: upstream skips a source
    without devices or streams, and a stream that is not selected or not a pin."""
    out = []
    for source in report.get("reportSources") or ():
        if not isinstance(source, dict):
            continue
        raw = source.get("dataStreams") or source.get("reportDataStreams") or ()
        streams = [dict(s, pinType=s.get("pinType") or "VIRTUAL") for s in raw if _valid_stream(s)]
        for device_id in source.get("deviceIds") or ():
            if isinstance(device_id, int) and streams:
                out.append((device_id, streams))
    return out


def zip_layout(report, dash, path_of):
    """The zip's entries in the report's layout: [(entry name, keep when empty, [(cells, history file)])],
    where `cells` go between a row's time and value; `path_of(device_id, pin_type, pin, granularity)`
    gives the history file."""
    granularity = GRANULARITY_FILE.get(report.get("granularityType") or "MINUTE", files.MINUTE)

    def path(device_id, stream):
        return path_of(device_id, stream["pinType"], stream["pin"], granularity)
    groups = report_streams(report)
    output = output_of(report)
    if output == MERGED:
        name = file_name_part(report.get("name") or "Report") + ".csv"
        return [(name, False, [(f"{pin_cell(s)},{device_cell(dash, d)},", path(d, s))
                               for d, streams in groups for s in streams])]
    if output == PER_DEVICE:        # upstream opens a device's file even when its pins have nothing
        return [(f"{device_file_name(dash, d)}_{d}.csv", True, [(f"{pin_cell(s)},", path(d, s)) for s in streams])
                for d, streams in groups]
    return [(f"{device_file_name(dash, d)}_{d}_{pin_for_file_name(s)}.csv", False, [("", path(d, s))])
            for d, streams in groups for s in streams]


def csv_rows(history_file, cells, count, start_from, style, zone):
    return [f"{format_time(ts, style, zone)},{cells}{java_double(value)}\n"
            for value, ts in files.unpack(files.read_window(history_file, count)) if ts >= start_from]


def write_zip(name, entries, count, start_from, style, zone, folder=EXPORT_FOLDER):
    """On a worker: the report zip of `entries` (zip_layout), points from `start_from`; its path, or
    None when no stream had data (no file is left). A name met twice (two sources with the same device)
    keeps its first file and logs a warning, as upstream's per-pin layout does (its per-device layout
    fails the whole report instead)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    has_data, written = False, set()
    with zipfile.ZipFile(path + ".part", "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, keep_empty, streams in entries:
            rows = [row for cells, history_file in streams
                    for row in csv_rows(history_file, cells, count, start_from, style, zone)]
            if entry in written and (rows or keep_empty):
                log.warning("report %s: duplicate zip entry %s, wrong report configuration", name, entry)
            elif rows or keep_empty:
                written.add(entry)
                archive.writestr(entry, encode_csv("".join(rows)))
                has_data = has_data or bool(rows)
    if not has_data:
        os.remove(path + ".part")
        return None
    os.replace(path + ".part", path)
    return path


def encode_csv(text):
    """Upstream's UTF_16 bytes: a big-endian byte order mark, then the text; nothing for no text."""
    return (BYTE_ORDER_MARK + text).encode(REPORT_ENCODING, "surrogatepass") if text else b""


def write_zip_and_template(*args):
    """The worker's job of a run: the zip's path (or None), and the mail template's text."""
    return write_zip(*args), mail_template()


_TEMPLATE = []


def mail_template():
    """static/report-mail.html, read once (on a worker)."""
    if not _TEMPLATE:
        with open(MAIL_TEMPLATE, encoding="utf-8") as handle:
            _TEMPLATE.append(handle.read())
    return _TEMPLATE[0]


def mail_subject(report):
    """Upstream's subject: `Your daily Boiler is ready`."""
    return f"Your {PERIOD_LABELS[kind(report)].lower()} {report.get('name') or 'Report'} is ready"


def period_text(report):
    """Upstream's dynamic section after the name: the period, its time of day and day, and the dates of
    a custom range; `Period: Weekly, at 08:00 every Monday`."""
    rtype, zone = report["reportType"], zone_of(report)
    text = f"Period: {PERIOD_LABELS[kind(report)]}"
    if kind(report) == "ONE_TIME":
        return text
    at = datetime.datetime.fromtimestamp((rtype.get("atTime") or 0) / 1000, zone)
    text += f", at {at.hour:02d}:{at.minute:02d}"
    if kind(report) == "WEEKLY":
        text += " every " + DAY_NAMES[weekday(rtype)]
    elif kind(report) == "MONTHLY":
        text += " " + MONTH_DAY_LABELS["LAST" if rtype.get("dayOfMonth") == "LAST" else "FIRST"]
    if rtype.get("durationType") == "CUSTOM":
        first, last = (datetime.datetime.fromtimestamp((rtype.get(k) or 0) / 1000, zone).date()
                       for k in ("startTs", "endTs"))
        text += f"<br>Start date: {first.isoformat()}<br>End date: {last.isoformat()}<br>"
    return text


def mail_body(template, report, link, product_name):
    """The template with {DYNAMIC_SECTION} (report name and period), {DOWNLOAD_URL} and {PRODUCT_NAME}
    filled in one pass, so a report's name cannot bring a placeholder of its own."""
    values = {"DYNAMIC_SECTION": f"Report name: {_html(report.get('name') or 'Report')}<br>{period_text(report)}",
              "DOWNLOAD_URL": _html(link), "PRODUCT_NAME": _html(product_name)}
    return re.sub(r"\{(DYNAMIC_SECTION|DOWNLOAD_URL|PRODUCT_NAME)\}", lambda m: values[m.group(1)], template)


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
        entries = zip_layout(report, dash, lambda d, t, p, g: history.path(user, dash_id, d, t, p, g))
        date = datetime.datetime.fromtimestamp(now / 1000, zone).date().isoformat()
        name = f"{user.email}_{user.app_name}_{report.get('id')}_{date}.zip"
        args = (name, entries, fetch_count(report), start_from, report.get("format"), zone)

        def written(result, error):
            if error is not None:
                log.error("report %s of %s failed: %s", report.get("id"), user.email, error)
                self._finished(user, report, "ERROR", on_done)
            elif result[0] is None:
                log.info("no data for report %s of %s", report.get("id"), user.email)
                self._finished(user, report, "NO_DATA", on_done)
            else:
                self._mail(user, report, os.path.basename(result[0]), result[1], on_done)
        if not self.server.workers.submit(write_zip_and_template, *args, on_done=written):
            self._finished(user, report, "ERROR", on_done)

    def _mail(self, user, report, file_name, template, on_done):
        """Upstream's mail: its subject, the report's name and period, and the link to the zip."""
        link = download_url(self.server) + file_name
        body = mail_body(template, report, link, self.server.config["product.name"])
        recipients = [r.strip() for r in str(report.get("recipients")).split(",") if r.strip()]
        waiting, failed = [len(recipients)], []

        def sent(error):            # one mail per recipient; the run is OK when every one went out
            failed.extend([error] if error else [])
            waiting[0] -= 1
            if waiting[0] == 0:
                self._finished(user, report, "ERROR" if failed else "OK", on_done)
        for recipient in recipients:
            if not self.server.notifier.mail(recipient, mail_subject(report), body, html=True, on_result=sent):
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
