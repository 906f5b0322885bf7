"""The minute statistics (spec/behaviours.md §9, storage.md §4.2): every `stats.print.worker.period` the
counters and sessions become upstream's `Stat` (handlers/admin_stats.py), written as one JSON line to
`stats.log` in the logs folder and queued as the three `reporting_*_stat_minute` rows of the database;
then the per-command counters (and the app and MQTT totals) start again from 0, as upstream's StatsWorker resets them.

Owns: the snapshot timer, the counters' reset (and `carried`, what the resets took away, so a rate read
across a reset stays right), the stats.log file. Never does: a database call (the rows go to the queue of
storage/postgres.py, written on the worker pool) or any work per message (the counters are read here once
a period). Started only with `enable.db` (server.listen), so an idle server without a database neither
imports this module nor runs its timer. With `log.console=true` there is no logs folder, so no stats.log.

Time: the period runs on the reactor's monotonic clock (`reactor.call_every`); a row's `ts` is the
reactor's wall clock, truncated to the minute by the database writer. A snapshot due while the server was
down is not made up: the first after a start comes FIRST_DELAY later, as upstream's.

Invariant: every counted message is in exactly one snapshot: the counters are copied and zeroed in the
same reactor callback, and nothing else resets them (admin page reads do not).
"""
import json
import os

from ..logger import get_logger
from . import admin_stats

log = get_logger("blynklite.stats")

STATS_LOG = "stats.log"
FIRST_DELAY = 1.0           # seconds after the start, as upstream schedules its StatsWorker
MIN_PERIOD_MS = 1000        # a smaller stats.print.worker.period would only repeat the same minute's row
# stats.log holds one ~1.2 kB line a minute (~1.7 MB a day): rotated daily like blynk.log, and bounded
# so that a year of lines cannot fill a Raspberry Pi's SD card.
STATS_LOG_DAYS = 30
STATS_LOG_MAX_BYTES = 5 * 1024 * 1024
STATS_LOG_TOTAL_BYTES = 50 * 1024 * 1024


class StatsMinute:
    def __init__(self, server, database):
        self.server = server
        self.database = database            # storage/postgres.py Database: stat rows go to its queue
        self.carried = 0                    # messages counted before the last reset
        self._last_total = 0
        self._last_time = server.reactor.now
        self._log_file = None
        self._log_failed = False
        self._timer = None

    def start(self):
        period = max(MIN_PERIOD_MS, self.server.config["stats.print.worker.period"]) / 1000.0
        self.server.reactor.call_later(FIRST_DELAY, self._first, period)

    def _first(self, period):
        self.snapshot()
        self._timer = self.server.reactor.call_every(period, self.snapshot)

    def snapshot(self):
        """Take the Stat, log it, queue its rows, reset the counters."""
        reactor = self.server.reactor
        counters, app_total, mqtt_total = self.take_counters()
        total = self.carried
        elapsed = reactor.now - self._last_time
        rate = (total - self._last_total) / elapsed if elapsed > 0 else 0.0
        self._last_total, self._last_time = total, reactor.now
        stat = admin_stats.stat(self.server, counters, app_total, mqtt_total, rate, reactor.wall_ms)
        self.write_log(json.dumps(stat, separators=(",", ":")), reactor.wall_ms)
        self.database.stat(self.server.config["region"], reactor.wall_ms, stat)

    def take_counters(self):
        """A copy of the counters and the app and MQTT totals, all zeroed (the counters in place: sessions
        hold the same list); `carried` keeps the message total growing."""
        server = self.server
        counters = server.stats
        taken = (list(counters), server.app_total, server.mqtt_total)
        self.carried = admin_stats.messages_total(server)
        counters[:] = [0] * len(counters)
        server.app_total = server.mqtt_total = 0
        return taken

    def write_log(self, line, wall_ms):
        config = self.server.config
        if config.get("log.console") or self._log_failed:
            return
        try:
            if self._log_file is None:
                from ..logfile import DailyLogFile
                folder = os.path.abspath(config["logs.folder"] or "./logs")
                os.makedirs(folder, exist_ok=True)
                self._log_file = DailyLogFile(os.path.join(folder, STATS_LOG), days_kept=STATS_LOG_DAYS,
                                              max_bytes=STATS_LOG_MAX_BYTES, total_bytes=STATS_LOG_TOTAL_BYTES)
            self._log_file.write(wall_ms / 1000.0, line)
        except OSError as error:                # a full disk or a read-only folder: said once, then skipped
            self._log_failed = True
            log.error("cannot write %s (%s); statistics go on to the database only", STATS_LOG, error)

    def stop(self):
        if self._timer is not None:
            self._timer.cancel()
        if self._log_file is not None:
            self._log_file.close()
