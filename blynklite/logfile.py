"""The server log file: `blynk.log`, renamed to `blynk.log.YYYY-MM-DD` when a new day starts.

Stands in for `logging.handlers.TimedRotatingFileHandler`, whose module pulls in pickle, queue and
socket handlers, about 0.5 MB an idle Raspberry Pi would carry for nothing. Rotation is checked as
a record is written, so a quiet server rotates at its first message of the day.
"""
import logging
import os
import time

DAYS_KEPT = 14


class DailyLogFile(logging.FileHandler):
    def __init__(self, path, days_kept=DAYS_KEPT):
        self.days_kept = days_kept
        self.day = _day(os.path.getmtime(path)) if os.path.exists(path) else _day(time.time())
        super().__init__(path, encoding="utf-8", delay=True)
        self._rotate_if_new_day(time.time())

    def emit(self, record):
        self._rotate_if_new_day(record.created)
        super().emit(record)

    def _rotate_if_new_day(self, timestamp):
        today = _day(timestamp)
        if today == self.day:
            return
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if os.path.exists(self.baseFilename):
            os.replace(self.baseFilename, f"{self.baseFilename}.{self.day}")
        self.day = today
        self._forget_old_days()

    def _forget_old_days(self):
        folder, name = os.path.split(self.baseFilename)
        rotated = sorted(f for f in os.listdir(folder) if f.startswith(name + "."))
        for old in rotated[:-self.days_kept] if self.days_kept else rotated:
            try:
                os.remove(os.path.join(folder, old))
            except OSError:
                pass


def _day(timestamp):
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))
