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


def test_a_file_over_the_size_limit_is_moved_aside_within_the_day(tmp_path):
    path = tmp_path / "blynk.log"
    handler = DailyLogFile(str(path), max_bytes=100, total_bytes=10_000)
    now = time.time()
    for i in range(25):
        handler.write(now, f"line {i:02d} " + "x" * 11)   # 20 bytes a line: 5 lines a file
    handler.close()
    today = time.strftime("%Y-%m-%d", time.localtime(now))
    parts = sorted(p.name for p in tmp_path.iterdir() if p.name != "blynk.log")
    assert parts == [f"blynk.log.{today}.{n}" for n in range(1, 5)]
    assert (tmp_path / f"blynk.log.{today}.1").read_text().startswith("line 00 ")
    assert path.read_text().startswith("line 20 ")
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())


def test_a_flood_of_lines_never_takes_more_than_the_cap(tmp_path):
    path = tmp_path / "blynk.log"
    handler = DailyLogFile(str(path), max_bytes=1000, total_bytes=5000)
    now = time.time()
    for i in range(2000):
        handler.write(now, f"bad token from 10.0.0.{i % 250} " + "y" * 30)
    handler.close()
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total <= 1000 + 5000
    newest = max((p for p in tmp_path.iterdir() if p.name != "blynk.log"),
                 key=lambda p: int(p.name.rsplit(".", 1)[1]))
    assert int(newest.name.rsplit(".", 1)[1]) > 100   # the newest parts were kept, the oldest dropped


def test_size_parts_of_an_old_day_go_with_that_day(tmp_path):
    path = tmp_path / "blynk.log"
    handler = DailyLogFile(str(path), days_kept=1, max_bytes=50, total_bytes=10_000)
    start = time.time()
    for i in range(6):
        handler.write(start, "day one " + "z" * 40)
    handler.write(start + DAY, "day two")
    handler.write(start + 2 * DAY, "day three")
    handler.close()
    day_two = time.strftime("%Y-%m-%d", time.localtime(start + DAY))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blynk.log", f"blynk.log.{day_two}"]
