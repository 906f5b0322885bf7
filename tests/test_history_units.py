"""History package without a server: the Java file layout, aggregation, graph payloads and CSV text."""
import gzip
import struct
import zlib

import pytest

from blynklite.history import export, files, graph
from blynklite.history.aggregate import Stream, parse_number

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000


def java_file(path, records):
    """A history file as the Java server writes it: ByteBuffer.putDouble/putLong, big-endian."""
    with open(path, "wb") as handle:
        for value, ts in records:
            handle.write(struct.pack(">d", value) + struct.pack(">q", ts))


def test_file_names_follow_upstream():
    assert files.file_name(1, 0, "VIRTUAL", 5, "minute") == "history_1-0_v5_minute.bin"
    assert files.file_name(12, 3, "DIGITAL", 13, "hourly") == "history_12-3_d13_hourly.bin"
    assert files.user_dir("a@b.c", "Blynk") == "a@b.c"
    assert files.user_dir("a@b.c", "MyApp") == "a@b.c_MyApp"


def test_java_file_reads_back_window_and_paging(tmp_path):
    path = str(tmp_path / "history_1-0_v1_minute.bin")
    java_file(path, [(float(i), i * MIN) for i in range(10)])
    assert files.unpack(files.read_window(path, 3)) == [(7.0, 7 * MIN), (8.0, 8 * MIN), (9.0, 9 * MIN)]
    assert files.unpack(files.read_window(path, 3, skip=3)) == [(4.0, 4 * MIN), (5.0, 5 * MIN), (6.0, 6 * MIN)]
    assert files.unpack(files.read_window(path, 5, skip=8)) == [(0.0, 0), (1.0, MIN)]
    assert files.read_window(path, 5, skip=10) == b""
    assert files.read_window(str(tmp_path / "missing.bin"), 5) == b""


def test_appended_records_are_the_java_bytes(tmp_path):
    path = str(tmp_path / "f.bin")
    files.append(path, files.pack([(1.11, 1111111), (1.22, 2222222)]))
    raw = open(path, "rb").read()
    assert raw == bytes.fromhex("3ff1c28f5c28f5c3" "000000000010f447" "3ff3851eb851eb85" "000000000021e88e")


def test_torn_last_record_is_ignored(tmp_path):
    path = str(tmp_path / "f.bin")
    java_file(path, [(1.0, MIN), (2.0, 2 * MIN)])
    with open(path, "ab") as handle:
        handle.write(b"\x01\x02\x03")
    assert files.unpack(files.read_window(path, 10)) == [(1.0, MIN), (2.0, 2 * MIN)]


def test_truncate_keeps_newest(tmp_path):
    path = str(tmp_path / "history_1-0_v1_minute.bin")
    java_file(path, [(float(i), i * MIN) for i in range(100)])
    assert files.truncate_to_newest(path, 10)
    assert files.unpack(files.read_window(path, 100)) == [(float(i), i * MIN) for i in range(90, 100)]
    assert not files.truncate_to_newest(path, 10)


@pytest.mark.parametrize("text, value", [("1", 1.0), ("-2.5", -2.5), ("+3", 3.0), ("1e3", 1000.0),
                                         ("2.5E-1", 0.25), ("10.", 10.0)])
def test_numbers_that_are_aggregated(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "abc", " 1", "1 ", "nan", "NaN", "inf", "-Infinity", "1_000",
                                  "1\x002", "0x10", "1e999"])
def test_values_that_are_not_numbers(text):
    assert parse_number(text) is None


def test_minute_hour_and_day_averages():
    stream = Stream(None)
    base = 10 * DAY                     # midnight UTC
    stream.add(1.0, base + 1000)
    stream.add(3.0, base + 2000)        # minute 0: avg 2
    stream.add(10.0, base + MIN + 5)    # minute 1 closes minute 0
    assert stream.take_completed(base + MIN + 10) == [("minute", 2.0, base)]
    stream.add(20.0, base + HOUR + 1)   # next hour: minute 1 and hour 0 close
    done = stream.take_completed(base + HOUR + 2)
    assert done == [("minute", 10.0, base + MIN), ("hourly", (1 + 3 + 10) / 3, base)]
    done = stream.take_completed(base + DAY + 5)   # next day: minute, hour and day of the 20
    assert done == [("minute", 20.0, base + HOUR), ("hourly", 20.0, base + HOUR),
                    ("daily", (1 + 3 + 10 + 20) / 4, base)]
    assert stream.take_completed(base + 2 * DAY) is None
    assert stream.is_idle()


def test_open_minute_is_not_reported():
    stream = Stream(None)
    stream.add(5.0, 7 * MIN + 1)
    assert stream.take_completed(7 * MIN + 59_000) is None
    assert stream.take_completed(8 * MIN) == [("minute", 5.0, 7 * MIN)]


def test_late_values_get_their_own_buckets():
    stream = Stream(None)
    now = 100 * DAY + 5 * HOUR
    stream.add(1.0, now)
    stream.add(4.0, now - 2 * DAY)          # extra/pin with an old stamp
    stream.add(6.0, now - 2 * DAY + 1000)
    done = stream.take_completed(now + MIN)
    assert ("minute", 5.0, now - 2 * DAY) in done
    assert ("hourly", 5.0, now - 2 * DAY) in done
    assert ("daily", 5.0, now - 2 * DAY - 5 * HOUR) in done
    assert ("minute", 1.0, now) in done


def test_live_cache_keeps_last_sixty():
    stream = Stream(None, live=True)
    for i in range(70):
        stream.add(float(i), i * 1000)
    data = graph.live_window(stream, 60, 0)
    assert files.unpack(data)[0] == (10.0, 10_000) and len(data) == 60 * 16
    assert files.unpack(graph.live_window(stream, 60, 55)) == [(float(i), i * 1000) for i in range(10, 15)]
    short = Stream(None, live=True)
    short.add(1.5, 7)
    assert files.unpack(graph.live_window(short, 60, 0)) == [(1.5, 7)]
    assert graph.live_window(Stream(None, live=True), 60, 0) == b"" and graph.live_window(None, 60, 0) == b""


def test_payload_matches_upstream_example():
    """HistoryGraphTest: a tag stream with two records plus an empty stream."""
    parts = [files.pack([(1.11, 1111111), (1.22, 2222222)]), b""]
    raw = zlib.decompress(graph.payload(1, parts))
    assert raw == (struct.pack(">ii", 1, 2) + struct.pack(">dq", 1.11, 1111111)
                   + struct.pack(">dq", 1.22, 2222222) + struct.pack(">i", 0))
    assert graph.payload(1, [b"", b""]) is None


@pytest.mark.parametrize("function, expected", [("AVG", 2.0), ("MIN", 1.0), ("MAX", 3.0), ("SUM", 6.0),
                                                ("MED", 2.0)])
def test_tag_merge_functions(function, expected):
    a = files.pack([(1.0, 5), (7.0, 9)])
    b = files.pack([(2.0, 5)])
    c = files.pack([(3.0, 5), (1.0, 1)])
    merged = files.unpack(graph.merge([a, b, c], function))
    assert merged[0] == (1.0, 1) and merged[1] == (expected, 5) and merged[2] == (7.0, 9)


def test_superchart_streams_read_upstream_json():
    widget = {"type": "ENHANCED_GRAPH", "dataStreams": [
        {"targetId": 100000, "pin": {"pin": 8, "pinType": "DIGITAL"}, "functionType": "MAX"},
        {"pin": {"pin": 300, "pinType": "VIRTUAL"}}, {"targetId": 2}]}
    assert graph.superchart_streams(widget) == [(100000, "DIGITAL", 8, "MAX"), (0, None, None, "AVG"),
                                                (2, None, None, "AVG")]


@pytest.mark.parametrize("value, text", [(1.11, "1.11"), (100.0, "100.0"), (1e-4, "1.0E-4"), (1e10, "1.0E10"),
                                         (0.001, "0.001"), (1234567.0, "1234567.0"), (1.0e7, "1.0E7"),
                                         (-2.5e-7, "-2.5E-7"), (0.0, "0.0"), (12345678.9, "1.23456789E7")])
def test_java_double_text(value, text):
    assert export.java_double(value) == text


def test_seed_csv_is_upstream_text(tmp_path):
    a, b = str(tmp_path / "a.bin"), str(tmp_path / "b.bin")
    java_file(a, [(1.11, 1111111), (100.0, 2222222)])
    java_file(b, [(1e-4, 3333333)])
    path = export.write_seed_csv(str(tmp_path / "out"), "x.csv.gz", [(0, a), (3, b)], 43200)
    assert gzip.open(path).read() == b"1.11,1111111,0\n100.0,2222222,0\n1.0E-4,3333333,3\n"
    small = export.write_seed_csv(str(tmp_path / "out"), "y.csv.gz", [(0, a)], 1)
    assert gzip.open(small).read() == b"100.0,2222222,0\n"
    with pytest.raises(export.NoData):
        export.write_seed_csv(str(tmp_path / "out"), "z.csv.gz", [(0, str(tmp_path / "none.bin"))], 10)


def test_sheet_csv_has_a_column_per_stream(tmp_path):
    import datetime
    a, b = str(tmp_path / "a.bin"), str(tmp_path / "b.bin")
    java_file(a, [(1.5, 0), (2.5, MIN)])
    java_file(b, [(7.0, MIN)])
    zone = datetime.timezone(datetime.timedelta(hours=2))
    path = export.write_sheet_csv(str(tmp_path), "s.csv.gz", [("v1", a), ("Temp, C", b)], 100, zone)
    assert gzip.open(path).read().decode() == ('time,v1,"Temp, C"\n1970-01-01T02:00:00,1.5,\n'
                                               '1970-01-01T02:01:00,2.5,7.0\n')


def test_export_names_never_leave_the_folder():
    assert export.export_name("a@b.c", 1, 0, "VIRTUAL", 4, 99) == "a@b.c_1_0_v4_99.csv.gz"
    assert export.safe_name("a@b.c_1_0_v4_99.csv.gz")
    for bad in ("../x.csv.gz", "a/b.csv.gz", ".hidden.gz", "x.txt", ""):
        assert export.safe_name(bad) is None


def test_weekly_jobs_truncate_minute_files_and_drop_unused_history(tmp_path):
    import os
    from blynklite.history import recorder
    user = tmp_path / "a@b.c"
    user.mkdir()
    java_file(str(user / "history_1-0_v1_minute.bin"), [(float(i), i * MIN) for i in range(30)])
    java_file(str(user / "history_1-0_v1_hourly.bin"), [(float(i), i * HOUR) for i in range(30)])
    java_file(str(user / "history_1-0_v2_minute.bin"), [(1.0, MIN)])
    (tmp_path / "empty@b.c").mkdir()
    assert recorder._truncate_all(str(tmp_path), 10) == 1
    assert files.record_count(str(user / "history_1-0_v1_minute.bin")) == 10
    assert files.record_count(str(user / "history_1-0_v1_hourly.bin")) == 30      # never truncated
    assert not (tmp_path / "empty@b.c").exists()
    used = {files.file_name(1, 0, "VIRTUAL", 1, g) for g in files.GRANULARITIES}
    assert recorder._delete_unused(str(user), used) == 1
    assert sorted(os.listdir(user)) == ["history_1-0_v1_hourly.bin", "history_1-0_v1_minute.bin"]


def test_old_exports_are_removed(tmp_path):
    import os
    old, new = tmp_path / "a_1_0_v1_1.csv.gz", tmp_path / "a_1_0_v1_2.csv.gz"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (1000, 1000))
    now_ms = int(os.path.getmtime(new) * 1000)
    assert export.clean_exports(str(tmp_path), 45 * DAY, now_ms) == 1
    assert [p.name for p in tmp_path.iterdir()] == [new.name]


def test_logged_pins_follow_charts_tags_selectors_tiles_and_reports():
    from blynklite.history.recorder import logged_pins
    from blynklite.model.dashboard import DashBoard
    dash = DashBoard.from_json({"id": 1, "devices": [{"id": i} for i in range(4)],
                                "tags": [{"id": 100_000, "deviceIds": [1, 2]}],
                                "widgets": [
        {"type": "ENHANCED_GRAPH", "id": 1, "selectedPeriods": ["DAY"],
         "dataStreams": [{"targetId": 100_000, "pin": {"pin": 1, "pinType": "VIRTUAL"}},
                         {"targetId": 200_001, "pin": {"pin": 2, "pinType": "DIGITAL"}}]},
        {"type": "DEVICE_SELECTOR", "id": 200_001, "deviceIds": [0, 3], "value": 0},
        {"type": "DEVICE_TILES", "id": 5, "templates": [{"deviceIds": [2], "widgets": [
            {"type": "ENHANCED_GRAPH", "id": 6, "dataStreams": [{"pin": {"pin": 9, "pinType": "VIRTUAL"}}]}]}]},
        {"type": "REPORT", "id": 7, "reportSources": [{"type": "DEVICE", "deviceIds": [3],
                                                       "dataStreams": [{"pin": 4, "pinType": "ANALOG"}]}]}]})
    assert sorted(logged_pins(dash)) == [(0, "DIGITAL", 2, False), (1, "VIRTUAL", 1, False), (2, "VIRTUAL", 1, False),
                                         (2, "VIRTUAL", 9, True), (3, "ANALOG", 4, False), (3, "DIGITAL", 2, False)]
