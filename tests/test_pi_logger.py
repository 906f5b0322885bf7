"""blynklite.logger's echo: with a log file as the sink, errors also reach stderr (the console, or the
journal under systemd); lower levels do not, and console mode writes each line once."""
import pytest

from blynklite import logger
from blynklite.logger import ECHO_LEVEL, INFO, StreamSink, configure, get_logger


class ListSink:
    def __init__(self):
        self.lines = []

    def write(self, timestamp, line):
        self.lines.append(line)

    def close(self):
        pass


@pytest.fixture
def restore_logger():
    before = (logger._Settings.sink, logger._Settings.level, logger._Settings.echo_level)
    yield
    configure(before[0], before[1])
    logger._Settings.echo_level = before[2]


def test_errors_are_echoed_to_stderr_and_info_is_not(restore_logger, capsys):
    sink = ListSink()
    configure(sink, INFO, echo_level=ECHO_LEVEL)
    log = get_logger("blynklite.test")
    log.info("device %s logged in", "abc")
    log.error("could not save profile of %s", "a@b.c")
    err = capsys.readouterr().err
    assert len(sink.lines) == 2
    assert err == sink.lines[1] + "\n"          # the same line, once


def test_console_mode_writes_each_line_once(restore_logger, capsys):
    configure(StreamSink(), INFO)
    get_logger("blynklite.test").error("port problem")
    assert capsys.readouterr().err.count("port problem") == 1


def test_without_echo_level_nothing_is_echoed(restore_logger, capsys):
    configure(ListSink(), INFO)
    get_logger("blynklite.test").error("only in the file")
    assert capsys.readouterr().err == ""
