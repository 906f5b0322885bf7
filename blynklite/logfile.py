"""The server log file: `blynk.log`, moved aside when a new day starts or when it grows too large.

A sink for blynklite.logger. Rotation is checked as a line is written, so a quiet server rotates at
its first message of the day. The file is opened at the first line and flushed after every line.
A day's file is renamed `blynk.log.YYYY-MM-DD`; a file that reaches `max_bytes` during the day is
renamed `blynk.log.YYYY-MM-DD.N` (N = 1, 2, ...). Rotated files are pruned to the newest
`days_kept` days and to `total_bytes` in all, oldest first, so no traffic can fill the disk that
holds the profiles.

Invariant: the live file plus the rotated ones never exceed `max_bytes + total_bytes` (plus one line).
"""
import os
import time

DAYS_KEPT = 14
# One busy day of INFO lines from a few hundred devices fits; a flood of bad logins does not.
MAX_BYTES = 10 * 1024 * 1024
# What all rotated files may take together: a small part of a Raspberry Pi's SD card.
TOTAL_BYTES = 100 * 1024 * 1024


class DailyLogFile:
    def __init__(self, path, days_kept=DAYS_KEPT, max_bytes=MAX_BYTES, total_bytes=TOTAL_BYTES):
        self.path = os.path.abspath(path)
        self.days_kept = days_kept
        self.max_bytes = max_bytes
        self.total_bytes = total_bytes
        self.day = _day(os.path.getmtime(path)) if os.path.exists(path) else _day(time.time())
        self.size = os.path.getsize(path) if os.path.exists(path) else 0
        self.stream = None
        self._rotate_if_new_day(time.time())

    def write(self, timestamp, line):
        self._rotate_if_new_day(timestamp)
        if self.size >= self.max_bytes:
            self._rotate(self._free_name(f"{self.path}.{self.day}"))
        if self.stream is None:
            self.stream = open(self.path, "a", encoding="utf-8", errors="backslashreplace")
        self.stream.write(line + "\n")
        self.stream.flush()
        self.size += len(line) + 1

    def close(self):
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def _rotate_if_new_day(self, timestamp):
        today = _day(timestamp)
        if today == self.day:
            return
        self._rotate(self._free_name(f"{self.path}.{self.day}", plain_first=True))
        self.day = today

    def _rotate(self, target):
        self.close()
        if os.path.exists(self.path):
            os.replace(self.path, target)
        self.size = 0
        self._prune()

    @staticmethod
    def _free_name(base, plain_first=False):
        """`base`, or `base.N` with N above every part of that day still on disk, so the newest
        part always has the highest number even after older ones were pruned."""
        if plain_first and not os.path.exists(base):
            return base
        folder, name = os.path.split(base)
        numbers = [int(f[len(name) + 1:]) for f in os.listdir(folder)
                   if f.startswith(name + ".") and f[len(name) + 1:].isdigit()]
        return f"{base}.{max(numbers, default=0) + 1}"

    def _prune(self):
        folder, name = os.path.split(self.path)
        rotated = []   # (day, part, full path); a day's plain file is its last part
        for file_name in os.listdir(folder):
            day, _, part = file_name[len(name) + 1:].partition(".")
            if file_name.startswith(name + ".") and (not part or part.isdigit()):
                rotated.append((day, int(part) if part else float("inf"), os.path.join(folder, file_name)))
        rotated.sort()
        kept_days = sorted({day for day, _, _ in rotated})[-self.days_kept:] if self.days_kept else []
        total = 0
        for day, _, full in reversed(rotated):   # newest first
            try:
                total += os.path.getsize(full)
                if day not in kept_days or total > self.total_bytes:
                    os.remove(full)
            except OSError:
                pass


def _day(timestamp):
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))
