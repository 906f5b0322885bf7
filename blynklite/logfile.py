"""The server log file: `blynk.log`, renamed to `blynk.log.YYYY-MM-DD` when a new day starts.

A sink for blynklite.logger. Rotation is checked as a line is written, so a quiet server rotates at
its first message of the day. The file is opened at the first line and flushed after every line.
"""
import os
import time

DAYS_KEPT = 14


class DailyLogFile:
    def __init__(self, path, days_kept=DAYS_KEPT):
        self.path = os.path.abspath(path)
        self.days_kept = days_kept
        self.day = _day(os.path.getmtime(path)) if os.path.exists(path) else _day(time.time())
        self.stream = None
        self._rotate_if_new_day(time.time())

    def write(self, timestamp, line):
        self._rotate_if_new_day(timestamp)
        if self.stream is None:
            self.stream = open(self.path, "a", encoding="utf-8", errors="backslashreplace")
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def _rotate_if_new_day(self, timestamp):
        today = _day(timestamp)
        if today == self.day:
            return
        self.close()
        if os.path.exists(self.path):
            os.replace(self.path, f"{self.path}.{self.day}")
        self.day = today
        self._forget_old_days()

    def _forget_old_days(self):
        folder, name = os.path.split(self.path)
        rotated = sorted(f for f in os.listdir(folder) if f.startswith(name + "."))
        for old in rotated[:-self.days_kept] if self.days_kept else rotated:
            try:
                os.remove(os.path.join(folder, old))
            except OSError:
                pass


def _day(timestamp):
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))
