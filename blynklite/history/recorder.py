"""The history recorder the server wires: which pins are logged, the minute flush to the Java history
files, retention, and deletion with a dashboard, device or account.

Owns: one `Stream` per logged pin (history/aggregate.py), the flush job, the write-behind queue of
records not yet on disk, and the retention jobs. Never does: touch a file on the reactor thread (every
disk access is a worker task), or scan widgets on a write (model/watchers.py asks `pins_of` once per
dashboard change and hands each write straight to its pin's `Stream`).

Time: every timestamp is `reactor.wall_ms` (or a point's own stamp for HTTP `extra/pin`); the flush runs
on the reactor's clock at the start of each minute. A crash loses the open buckets and the records of
the last flush not yet appended (at most one minute of averages); what is on disk is whole records.
"""
import os

from . import files, graph
from .aggregate import LAST_LIVE_SLOT, MINUTE_MS, NUMBER_FIRST, NUMBER_LAST, Stream, new_ring, parse_number
from .files import PIN_TYPE_LETTERS, RECORD, RECORD_SIZE
from .periods import DEFAULT_SELECTED, LIVE
from ..logger import get_logger
from ..model.watchers import Watch, index_key

log = get_logger("blynklite.history")

FLUSH_PERIOD = 60.0             # seconds: upstream's ReportingWorker runs every minute
# Streams closed per reactor round in the flush: 500 take ~1-2 ms here (3.7 ms at worst; tools/history_bench.py
# flush), so forwarding never waits more than that (the target is 5 ms).
FLUSH_SLICE = 500
# Records kept in memory while the disk refuses them (full, read-only): 1440 minutes of 1,000 pins.
MAX_WAITING_RECORDS = 1_500_000
# Open buckets saved at shutdown and loaded at start (upstream's minute/hourly/daily_temp.bin, any format).
OPEN_BUCKETS_FILE = "aggregates_temp.json"
TRUNCATE_PERIOD = 7 * 24 * 3600.0   # upstream ReportingTruncateWorker: weekly, first after an hour
TRUNCATE_FIRST = 3600.0
UNUSED_PERIOD = 7 * 24 * 3600.0     # upstream HistoryGraphUnusedPinDataCleanerWorker: weekly, first after a day
UNUSED_FIRST = 24 * 3600.0
DAY_MS = 86_400_000
CHART = "ENHANCED_GRAPH"
REPORT = "REPORT"
TILES = "DEVICE_TILES"


class History:
    def __init__(self, server):
        self.server = server
        self.reactor = server.reactor
        self.config = server.config
        self.folder = os.path.join(server.store.folder, "data")
        # (email, app, dash_id) → {pin index key "dash-device-<t><pin>": Stream}: the key string is the
        # same object the dashboard's watcher index holds (one string per pin, no tuple per stream)
        self.groups = {}
        self.stamp = None           # a write's own timestamp (HTTP extra/pin), else reactor.wall_ms
        self.database = None        # storage/postgres.py Database when enable.db
        self._reports = None        # history/reports.ReportScheduler, made at first need (`reports`)
        self._stream_class = _recorded_stream(self)
        self._waiting = {}          # path → packed records (bytearray) not yet appended
        self._waiting_count = 0
        self._writing = False
        self._flushing = False      # a flush is closing streams slice by slice
        self._timers = []

    @property
    def streams(self):
        """Every stream by (email, app, dash_id, device_id, pin_type, pin): built on each call (tests,
        shutdown, the admin view), never on a write or a flush."""
        return {(*group, *pin_of(key)): stream for group, streams in self.groups.items()
                for key, stream in streams.items()}

    def _entries(self):
        """(group, stream) of every stream, for a flush or shutdown walking them all."""
        return [(group, stream) for group, streams in self.groups.items() for stream in streams.values()]

    @property
    def reports(self):
        """The report scheduler, made at first need: a server whose dashboards have no Report widget
        never loads history/reports.py (nor the calendar, zip and export code it needs)."""
        if self._reports is None:
            from .reports import ReportScheduler
            self._reports = ReportScheduler(self.server)
        return self._reports

    # -- wiring -----------------------------------------------------------------------------------
    def start(self):
        """Register with the pin watchers and schedule the jobs; the first flush at the next minute.
        With `enable.db` the PostgreSQL writers start too (storage/postgres.py)."""
        if self.config["enable.db"]:
            from ..storage.postgres import open_database
            self.database = open_database(self.server)
        self.server.watchers.add_provider(self.pins_of)
        if self.database is not None and self.database.raw_enabled:
            self.server.watchers.watch_every_write(self._raw_write)
        self._load_open_buckets()
        if any(dash.widget_of_type("REPORT") for user in self.server.hub.users.values()
               for dash in user.profile.dashboards):
            self.reports.start()
        delay = (MINUTE_MS - self.reactor.wall_ms % MINUTE_MS) / 1000.0
        self.reactor.call_later(delay, self._start_minute_job)
        self.reactor.call_later(TRUNCATE_FIRST, self._every, TRUNCATE_PERIOD, self.truncate)
        self.reactor.call_later(UNUSED_FIRST, self._every, UNUSED_PERIOD, self.clean_unused)

    def _start_minute_job(self):
        self.flush()
        self._timers.append(self.reactor.call_every(FLUSH_PERIOD, self.flush))

    def _every(self, period, job):
        job()
        self._timers.append(self.reactor.call_every(period, job))

    def stop(self):
        """Shutdown: close what is complete and append it now (synchronously)."""
        for timer in self._timers:
            timer.cancel()
        batch, rows, folders = {}, [], {}
        for group, stream in self._entries():
            self._collect(group, stream, self.reactor.wall_ms, batch, rows, folders)
        self._queue(batch)
        waiting, self._waiting = self._waiting, {}
        _append_all(waiting)
        if self.database is not None:
            self.database.averages(rows)
            self.database.close()
        self._save_open_buckets()

    def _save_open_buckets(self):
        """Shutdown: the minute, hour and day still open, so that a restart continues their averages."""
        import json
        state = [[*ref, stream.m_idx, stream.m_sum, stream.m_cnt, stream.h_sum, stream.h_cnt,
                  stream.d_sum, stream.d_cnt] for ref, stream in self.streams.items()
                 if stream.m_cnt or stream.h_cnt or stream.d_cnt]
        if not state:
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
            with open(os.path.join(self.folder, OPEN_BUCKETS_FILE), "w", encoding="utf-8") as handle:
                json.dump(state, handle)
        except OSError as error:
            log.error("history: open buckets not saved (%s); the current minute, hour and day restart", error)

    def _load_open_buckets(self):
        """Start: take back what the last shutdown saved (then delete the file)."""
        import json
        path = os.path.join(self.folder, OPEN_BUCKETS_FILE)
        try:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
            os.remove(path)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            log.error("history: cannot read %s: %s", path, error)
            return
        for entry in state:
            try:
                (email, app_name, dash_id, device_id, pin_type, pin), (m_idx, m_sum, m_cnt, h_sum, h_cnt, d_sum,
                                                                       d_cnt) = entry[:6], entry[6:13]
                stream = self._stream(email, app_name, dash_id, device_id, pin_type, pin)
                stream.m_idx, stream.m_sum, stream.m_cnt = int(m_idx), float(m_sum), int(m_cnt)
                stream.h_sum, stream.h_cnt, stream.d_sum, stream.d_cnt = float(h_sum), int(h_cnt), float(d_sum), int(d_cnt)
            except (TypeError, ValueError, KeyError):
                log.error("history: skipped a malformed open bucket in %s", path)

    # -- which pins are logged ---------------------------------------------------------------------
    def pins_of(self, user, dash):
        """The watcher provider: (device_id, pin_type, pin, callback) for every logged pin."""
        for device_id, pin_type, pin, live in logged_pins(dash):
            stream = self._stream(user.email, user.app_name, dash.id, device_id, pin_type, pin)
            stream.set_live(live)
            yield device_id, pin_type, pin, stream     # a RecordedStream is its pin's watcher index entry

    def _stream(self, email, app_name, dash_id, device_id, pin_type, pin):
        group = (email, app_name, dash_id)
        streams = self.groups.get(group)
        if streams is None:
            streams = self.groups[group] = {}
        key = index_key(dash_id, device_id, pin_type, pin)
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = self._stream_class(key)
        return stream

    def find(self, email, app_name, dash_id, device_id, pin_type, pin):
        """The stream of a pin, None when it is not logged (yet)."""
        return self.groups.get((email, app_name, dash_id), _NONE).get(index_key(dash_id, device_id, pin_type, pin))

    def with_stamps(self, ref, pin_type, pin, points, deliver):
        """HTTP extra/pin `[{"ts": ms, "value": v}, ...]`: `deliver()` stores and sends the first value,
        recorded at its own stamp; the other points are recorded at theirs."""
        stamps = [(str(p["value"]), p["ts"]) for p in points[1:]
                  if isinstance(p, dict) and p.get("value") is not None and _is_stamp(p.get("ts"))]
        first = points[0].get("ts") if isinstance(points[0], dict) else None
        self.stamp = first if _is_stamp(first) else None
        try:
            deliver()
        finally:
            self.stamp = None
        self.record_points(ref.user, ref.dash, ref.device.id, pin_type, pin, stamps)

    def record_points(self, user, dash, device_id, pin_type, pin, points):
        """HTTP extra/pin: [(value text, ts ms)] recorded with their own stamps."""
        stream = self.find(user.email, user.app_name, dash.id, device_id, pin_type, pin)
        if stream is None:
            self.server.watchers.watched(user, dash, index_key(dash.id, device_id, pin_type, pin))
            stream = self.find(user.email, user.app_name, dash.id, device_id, pin_type, pin)
        for text, ts in points:
            value = parse_number(text)
            if stream is not None and value is not None:
                stream.add(value, ts)
            if self.database is not None and self.database.raw_enabled:
                self.database.raw(user, dash.id, device_id, pin_type, pin, ts, text)

    def _raw_write(self, user, dash, device_id, pin_type, pin, value, source, origin):
        self.database.raw(user, dash.id, device_id, pin_type, pin, self.stamp or self.reactor.wall_ms, value)

    # -- the minute flush ---------------------------------------------------------------------------
    def flush(self):
        """Close every completed bucket, a slice of streams per reactor round, then append on a worker."""
        self._flushing = True
        self._flush_slice(self._entries(), 0, self.reactor.wall_ms, {}, [] if self.database is not None else None)

    def _flush_slice(self, streams, start, now, batch, rows):
        folders = {}
        for group, stream in streams[start:start + FLUSH_SLICE]:
            self._collect(group, stream, now, batch, rows, folders)
        if start + FLUSH_SLICE < len(streams):
            self.reactor.call_soon(self._flush_slice, streams, start + FLUSH_SLICE, now, batch, rows)
            return
        self._flushing = False
        self._queue(batch)
        if rows and self.database is not None:
            self.database.averages(rows)
        self._write_waiting()

    def _collect(self, group, stream, now, batch, rows, folders):
        """The completed buckets of one stream into `batch` {path: packed records} and, with a database,
        `rows`; `folders` caches each account's folder (with its separator) for a slice. Records are
        packed here, not kept as tuples: bytes are no work for the garbage collector."""
        done = stream.take_completed(now)
        if not done:
            return
        email, app_name, dash_id = group
        folder = folders.get(group)
        if folder is None:
            folder = folders[group] = os.path.join(self.folder, files.user_dir(email, app_name), "")
        device_id, pin_type, pin = pin_of(stream.ref)
        stem = folder + files.stem(dash_id, device_id, pin_type, pin)
        for granularity, average, ts in done:
            path = stem + granularity + ".bin"
            records = batch.get(path)
            if records is None:
                batch[path] = bytearray(RECORD.pack(average, ts))
            else:
                records += RECORD.pack(average, ts)
            if rows is not None:
                rows.append((granularity, email, dash_id, device_id, pin, pin_type, ts, average))

    def _queue(self, batch):
        """{path: packed records} into the write-behind queue (bounded: MAX_WAITING_RECORDS)."""
        for path, records in batch.items():
            count = len(records) // RECORD_SIZE
            if self._waiting_count + count > MAX_WAITING_RECORDS:
                log.error("history: %d records wait for the disk; dropping new ones for %s",
                          self._waiting_count, path)
                continue
            waiting = self._waiting.get(path)
            if waiting is None:
                self._waiting[path] = bytearray(records)
            else:
                waiting += records
            self._waiting_count += count

    def _write_waiting(self):
        if self._writing or not self._waiting:
            return
        waiting, self._waiting, self._waiting_count = self._waiting, {}, 0
        self._writing = True
        if not self.server.workers.submit(_append_all, waiting, on_done=lambda failed, error: self._written(
                waiting if error else failed)):
            self._writing = False
            self._queue(waiting)

    def _written(self, failed):
        self._writing = False
        if failed:
            log.error("history: %d files could not be appended; kept for the next flush", len(failed))
            self._queue(failed)

    def pending_writes(self):
        """True while a flush runs or its records wait for the disk (tests, reports)."""
        return self._flushing or self._writing or bool(self._waiting)

    # -- reading ----------------------------------------------------------------------------------
    def user_folder(self, user):
        return os.path.join(self.folder, files.user_dir(user.email, user.app_name))

    def path(self, user, dash_id, device_id, pin_type, pin, granularity):
        return os.path.join(self.user_folder(user),
                            files.file_name(dash_id, device_id, pin_type, pin, granularity))

    def graph_requests(self, user, dash, widget, target_override, period, skip):
        """One graph.StreamRequest per data stream of a Superchart (upstream's GraphPinRequest)."""
        count, granularity = graph.period_of(period)
        requests = []
        for target, pin_type, pin, function in graph.superchart_streams(widget):
            target = target if target_override == -1 else target_override
            devices, merged = target_devices(dash, target) if pin is not None else ([], False)
            if not devices:
                requests.append(graph.StreamRequest())
            elif period == LIVE:     # upstream keeps no LIVE cache for a tag
                stream = None if merged else self.find(user.email, user.app_name, dash.id, devices[0], pin_type, pin)
                data = graph.live_window(stream, count, skip)
                requests.append(graph.StreamRequest(data=data))
            else:
                paths = [self.path(user, dash.id, d, pin_type, pin, granularity) for d in devices]
                requests.append(graph.StreamRequest(paths, merged, function))
        return requests

    # -- deletion -----------------------------------------------------------------------------------
    def forget(self, user, dash_id=None, device_id=None):
        """Drop the in-memory streams of an account, a dashboard or a device."""
        for group in [g for g in self.groups if g[0] == user.email and g[1] == user.app_name
                      and (dash_id is None or g[2] == dash_id)]:
            if device_id is None:
                del self.groups[group]
                continue
            streams = self.groups[group]
            for key in [k for k in streams if pin_of(k)[0] == device_id]:
                del streams[key]

    def delete_files(self, user, prefixes, on_done=None):
        folder = self.user_folder(user)
        self.server.workers.submit(files.delete_matching, folder, list(prefixes), on_done=on_done)

    def dashboard_deleted(self, user, dash):
        self.forget(user, dash.id)
        if self._reports is not None:
            self._reports.forget(user, dash.id)
        self.delete_files(user, [files.device_prefix(dash.id, d.id) for d in dash.devices]
                          + [f"history_{dash.id}-"])

    def device_deleted(self, user, dash_id, device_id):
        self.forget(user, dash_id, device_id)
        self.delete_files(user, [files.device_prefix(dash_id, device_id)])

    def user_deleted(self, user):
        self.forget(user)
        if self._reports is not None:
            self._reports.forget(user)
        if self.database is not None:
            self.database.user_deleted(user)
        self.server.workers.submit(files.delete_folder, self.user_folder(user))

    # -- retention --------------------------------------------------------------------------------
    def truncate(self):
        """Weekly: minute files cut to `store.minute.record.days`, old CSV exports removed."""
        from . import export
        keep = self.config["store.minute.record.days"] * 1440
        max_age = self.config["store.export.csv.report.days"] * DAY_MS
        self.server.workers.submit(_truncate_all, self.folder, keep)
        self.server.workers.submit(export.clean_exports, export.EXPORT_FOLDER, max_age, self.reactor.wall_ms)

    def clean_unused(self):
        """Weekly: every history file no Superchart or Report uses any more is deleted, and the idle
        in-memory streams of those pins are dropped."""
        logged = set()
        for user in list(self.server.hub.users.values()):
            used = set()
            for dash in user.profile.dashboards:
                for device_id, pin_type, pin, _ in logged_pins(dash):
                    logged.add((user.email, user.app_name, dash.id, device_id, pin_type, pin))
                    for granularity in files.GRANULARITIES:
                        used.add(files.file_name(dash.id, device_id, pin_type, pin, granularity))
            self.server.workers.submit(_delete_unused, self.user_folder(user), used)
        for group, streams in list(self.groups.items()):
            for key in [k for k, stream in streams.items()
                        if (*group, *pin_of(k)) not in logged and stream.is_idle()]:
                del streams[key]
            if not streams:
                del self.groups[group]


def _recorded_stream(history):
    """A Stream class whose instances are the watcher index entries of their pin (model/watchers.py
    `Watch`: one object per logged pin, no closure, no tuple): `pin_written` records a numeric value at
    the history's stamp or reactor time."""
    reactor = history.reactor

    class RecordedStream(Stream, Watch):
        __slots__ = ()

        @property
        def watch_key(self):
            return self.ref     # the pin index key: the watcher index shares this string

        def pin_written(self, user, dash, device_id, pin_type, pin, text, source, origin):
            """The hot path: parse_number, Stream.add and add_live inlined (three calls less per write)."""
            try:
                value = float(text)
            except ValueError:
                return
            if value - value or "_" in text or text[0] not in NUMBER_FIRST or text[-1] not in NUMBER_LAST:
                return      # inf or nan (value - value is nan, which is true), or not upstream's spelling
            ts = history.stamp or reactor.wall_ms
            index = ts // MINUTE_MS
            if index == self.m_idx:
                self.m_sum += value
                self.m_cnt += 1
            else:
                self._other_minute(index, value)
            ring = self.live
            if ring is not None:
                if ring is False:
                    ring = self.live = new_ring()
                at = self.live_at
                ring[at] = value
                ring[at + 1] = ts
                self.live_at = at + 2 if at != LAST_LIVE_SLOT else 0
    return RecordedStream


def pin_of(key):
    """(device_id, pin_type, pin) of a pin index key "dash-device-<t><pin>" (once per stream and flush)."""
    _, device, pin = key.rsplit("-", 2)
    return int(device), _PIN_TYPES[pin[0]], int(pin[1:])


_PIN_TYPES = {letter: pin_type for pin_type, letter in PIN_TYPE_LETTERS.items()}
_NONE = {}


def _is_stamp(ts):
    return isinstance(ts, int) and not isinstance(ts, bool) and 0 <= ts < 1 << 62


# -- which pins a dashboard logs (spec/storage.md §5.1) ---------------------------------------------
def logged_pins(dash):
    """(device_id, pin_type, pin, live) for every pin a Superchart or Report widget plots."""
    seen = {}
    for widget, devices_of_template in _charts_and_reports(dash):
        if widget.get("type") == CHART:
            live = LIVE in (widget.get("selectedPeriods") or DEFAULT_SELECTED)
            for target, pin_type, pin, _ in graph.superchart_streams(widget):
                if pin is None:
                    continue
                devices = devices_of_template if devices_of_template is not None else \
                    target_devices(dash, target, all_selectable=True)[0]
                for device_id in devices:
                    key = (device_id, pin_type, pin)
                    seen[key] = seen.get(key, False) or live
        else:
            for device_id, pin_type, pin in report_pins(widget):
                seen.setdefault((device_id, pin_type, pin), False)
    return [(d, t, p, live) for (d, t, p), live in seen.items()]


def _charts_and_reports(dash):
    for widget in dash.widgets:
        wtype = widget.get("type")
        if wtype in (CHART, REPORT):
            yield widget, None
        elif wtype == TILES:
            for template in widget.get("templates") or ():
                if not isinstance(template, dict):
                    continue
                devices = [d for d in template.get("deviceIds") or () if isinstance(d, int)]
                for inner in template.get("widgets") or ():
                    if isinstance(inner, dict) and inner.get("type") == CHART:
                        yield inner, devices


def report_pins(widget):
    """(device_id, pin_type, pin) of a Report widget's sources."""
    for source in widget.get("reportSources") or ():
        if not isinstance(source, dict):
            continue
        devices = [d for d in source.get("deviceIds") or () if isinstance(d, int)]
        for stream in source.get("dataStreams") or source.get("reportDataStreams") or ():
            if not isinstance(stream, dict):
                continue
            pin, pin_type = stream.get("pin"), stream.get("pinType") or "VIRTUAL"
            if isinstance(pin, int) and 0 <= pin <= 255 and pin_type in PIN_TYPE_LETTERS:
                for device_id in devices:
                    yield device_id, pin_type, pin


def target_devices(dash, target, all_selectable=False):
    """(device ids, merged) of a graph target: a device, a tag (merged), or a device selector (its
    selected device; every selectable one when deciding what to log)."""
    if target < graph.TAG_START_ID:
        return ([target] if dash.device(target) is not None else []), False
    if target < graph.DEVICE_SELECTOR_START_ID:
        for tag in dash.tags:
            if isinstance(tag, dict) and tag.get("id") == target:
                return [d for d in tag.get("deviceIds") or () if isinstance(d, int)], True
        return [], True
    selector = find_widget(dash, target)
    if selector is None or selector.get("type") != "DEVICE_SELECTOR":
        return [], False
    if all_selectable:
        return [d for d in selector.get("deviceIds") or () if isinstance(d, int)], False
    value = selector.get("value")
    return ([int(value)] if str(value).lstrip("-").isdigit() else []), False


def find_widget(dash, widget_id):
    """A widget by id on the dashboard or inside a Device Tiles template (upstream's lookup order)."""
    widget = dash.widget(widget_id)
    if widget is not None:
        return widget
    for tiles in dash.widgets:
        if tiles.get("type") != TILES:
            continue
        for template in tiles.get("templates") or ():
            for inner in (template.get("widgets") or ()) if isinstance(template, dict) else ():
                if isinstance(inner, dict) and inner.get("id") == widget_id:
                    return inner
    return None


# -- worker tasks -----------------------------------------------------------------------------------
def _append_all(waiting):
    """Append each file's packed records in one write; {path: records} of the files that failed."""
    failed = {}
    for path, records in waiting.items():
        try:
            files.append(path, records)
        except OSError as error:
            log.error("history: cannot append to %s: %s", path, error)
            failed[path] = records
    return failed


def _truncate_all(folder, keep):
    cut = 0
    for root, dirs, names in os.walk(folder):
        for name in names:
            if name.endswith("_minute.bin"):
                try:
                    cut += files.truncate_to_newest(os.path.join(root, name), keep)
                except OSError as error:
                    log.error("history: cannot truncate %s: %s", name, error)
        if root != folder and not os.listdir(root):
            os.rmdir(root)
    return cut


def _delete_unused(folder, used):
    return files.delete_where(folder, lambda name, path: name.startswith("history_") and name not in used)
