"""blynklite.logger: levels, the line layout, tracebacks, bad arguments, and several threads at once."""
import re
import threading
import time

import pytest

from blynklite import logger
from blynklite.logger import DEBUG, ERROR, INFO, OFF, WARNING, configure, get_logger

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+) +(\S+) - (.*)$", re.S)


class ListSink:
    def __init__(self):
        self.lines = []
        self.closed = False

    def write(self, timestamp, line):
        self.lines.append(line)

    def close(self):
        self.closed = True


@pytest.fixture
def sink():
    before = (logger._Settings.sink, logger._Settings.level)
    recording = ListSink()
    configure(recording, INFO)
    yield recording
    configure(*before)


def parsed(sink):
    return [LINE.match(line).groups() for line in sink.lines]


def test_records_below_the_level_are_dropped_and_the_rest_laid_out(sink):
    log = get_logger("blynklite.test")
    log.debug("hidden %s", 1)
    log.info("device %s logged in from %s", "abc", "127.0.0.1")
    log.warning("plain text with a %% sign")
    assert parsed(sink) == [("INFO", "blynklite.test", "device abc logged in from 127.0.0.1"),
                            ("WARNING", "blynklite.test", "plain text with a %% sign")]
    assert sink.lines[0].split(" INFO  ")[1].startswith("blynklite.test")   # padded to 5, as log4j
    assert log.isEnabledFor(INFO) and not log.isEnabledFor(DEBUG)


def test_off_silences_everything(sink):
    configure(sink, OFF)
    get_logger("x").error("not written")
    assert sink.lines == []


def test_exception_adds_the_traceback(sink):
    try:
        {}["missing"]
    except KeyError:
        get_logger("blynklite.test").exception("handler failed for %s", "V1")
    level, name, text = parsed(sink)[0]
    assert level == "ERROR" and text.startswith("handler failed for V1\nTraceback (most recent call last):")
    assert text.endswith("KeyError: 'missing'")


def test_arguments_that_do_not_fit_the_message_are_shown_not_raised(sink):
    get_logger("t").error("two %s %s", "only-one")
    assert parsed(sink)[0][2] == "two %s %s (unformatted arguments: ('only-one',))"


def test_a_failing_sink_does_not_raise(capsys):
    class FullDisk(ListSink):
        def write(self, timestamp, line):
            raise OSError(28, "No space left on device")
    before = (logger._Settings.sink, logger._Settings.level)
    configure(FullDisk(), INFO)
    try:
        get_logger("t").warning("still running")
    finally:
        configure(*before)
    assert "No space left on device" in capsys.readouterr().err


class TwoPieceSink(ListSink):
    """Writes each line in two pieces with a thread switch between them: only the logger's lock
    keeps another thread's line from landing in the middle."""

    def write(self, timestamp, line):
        self.lines.append(line[:20])
        time.sleep(0)
        self.lines.append(line[20:])


def test_lines_from_several_threads_are_never_interleaved():
    before = (logger._Settings.sink, logger._Settings.level)
    pieces = TwoPieceSink()
    configure(pieces, INFO)

    def worker(n):
        log = get_logger(f"worker{n}")
        for i in range(500):
            log.info("message %d of worker %d", i, n)
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join(timeout=30)
    finally:
        configure(*before)
    lines = [a + b for a, b in zip(pieces.lines[::2], pieces.lines[1::2])]
    assert len(lines) == 2000
    assert all(re.fullmatch(r"\S+ \S+ INFO  worker\d - message \d+ of worker \d", line) for line in lines)


def test_configure_closes_the_sink_it_replaces(sink):
    replacement = ListSink()
    configure(replacement, ERROR)
    assert sink.closed and not replacement.closed
    configure(sink, WARNING)
