"""The daily log file: one file per day, old days renamed and pruned."""
import os
import time

from blynklite.logfile import DailyLogFile

DAY = 24 * 3600


def test_a_new_day_moves_yesterday_aside_and_writes_a_fresh_file(tmp_path):
    path = tmp_path / "blynk.log"
    handler = DailyLogFile(str(path))
    now = time.time()
    handler.write(now, "today")
    handler.write(now + DAY, "tomorrow")
    handler.close()
    today = time.strftime("%Y-%m-%d", time.localtime(now))
    assert (tmp_path / f"blynk.log.{today}").read_text() == "today\n"
    assert path.read_text() == "tomorrow\n"


def test_a_log_left_from_an_earlier_day_is_moved_aside_at_start(tmp_path):
    path = tmp_path / "blynk.log"
    path.write_text("old run\n")
    two_days_ago = time.time() - 2 * DAY
    os.utime(path, (two_days_ago, two_days_ago))
    handler = DailyLogFile(str(path))
    handler.write(time.time(), "new run")
    handler.close()
    old_day = time.strftime("%Y-%m-%d", time.localtime(two_days_ago))
    assert (tmp_path / f"blynk.log.{old_day}").read_text() == "old run\n"
    assert path.read_text() == "new run\n"


def test_only_the_newest_days_are_kept(tmp_path):
    path = tmp_path / "blynk.log"
    handler = DailyLogFile(str(path), days_kept=2)
    start = time.time()
    for day in range(5):
        handler.write(start + day * DAY, f"day {day}")
    handler.close()
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name != "blynk.log")
    expected = [f"blynk.log.{time.strftime('%Y-%m-%d', time.localtime(start + d * DAY))}" for d in (2, 3)]
    assert rotated == expected
    assert path.read_text() == "day 4\n"
