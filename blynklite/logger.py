"""The server's logging: named loggers writing `<time> <LEVEL> <name> - <message>` lines to one sink.

Stands in for the stdlib `logging` package, whose import (with traceback, tokenize, string and
weakref behind it) costs about 0.7 MB of resident memory, half of what the whole server adds to a
bare interpreter. The server needs little of it: levels, %-style messages formatted only when their
level is on, a traceback for `exception()`, one destination, and safety for the worker threads.
Loggers keep the stdlib method names, so code that is handed a stdlib logger works unchanged.

Until `configure()` names a sink, WARNING and above go to stderr, as the stdlib does. After it, records
at `echo_level` and above are also written to stderr (the terminal, or the journal under systemd), so an
error after the start-up banner is seen by whoever watches the console, not only in the log file.
`configure(StreamSink(), level)` is the console mode: every record to stderr and no echo (no doubles).
"""
import _thread
import sys
import time

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
OFF = CRITICAL + 10
LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", CRITICAL: "CRITICAL"}


class StreamSink:
    """Writes lines to a text stream (stderr by default)."""

    def __init__(self, stream=None):
        self.stream = stream

    def write(self, timestamp, line):
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def close(self):
        pass


# Records at this level and above reach stderr too once a log file is the sink: errors are what a
# person at the console or reading the journal must see; the rest would drown them.
ECHO_LEVEL = ERROR


class _Settings:
    level = WARNING
    sink = StreamSink()
    echo_level = OFF + 1  # nothing is echoed while the sink is stderr itself
    lock = _thread.allocate_lock()


def configure(sink, level, echo_level=None):
    """Send every record at `level` or above to `sink` (an object with write(timestamp, line) and close());
    records at `echo_level` or above (None: none) are also written to stderr."""
    with _Settings.lock:
        old, _Settings.sink, _Settings.level = _Settings.sink, sink, level
        _Settings.echo_level = OFF + 1 if echo_level is None else echo_level
    if old is not sink:
        old.close()


def _at_level(level):
    def write(self, message, *args):
        if level >= _Settings.level:
            _emit(self.name, level, message, args)
    return write


class Logger:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def isEnabledFor(self, level):  # noqa: N802 (the stdlib's name)
        return level >= _Settings.level

    debug = _at_level(DEBUG)
    info = _at_level(INFO)
    warning = _at_level(WARNING)
    error = _at_level(ERROR)
    critical = _at_level(CRITICAL)

    def exception(self, message, *args):
        """ERROR with the traceback of the exception being handled."""
        if ERROR >= _Settings.level:
            _emit(self.name, ERROR, message, args, with_traceback=True)


_loggers = {}


def get_logger(name):
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers.setdefault(name, Logger(name))
    return logger


def format_line(timestamp, level, name, text):
    """`2026-11-28 21:53:35,123 INFO  blynklite.hub - text`, the layout the stdlib format gave."""
    seconds = int(timestamp)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    millis = int((timestamp - seconds) * 1000)
    return f"{stamp},{millis:03d} {LEVEL_NAMES.get(level, str(level)):<5} {name} - {text}"


def _emit(name, level, message, args, with_traceback=False):
    text = _render(message, args)
    if with_traceback and sys.exc_info()[0] is not None:
        import traceback  # only when there is one to print
        text += "\n" + "".join(traceback.format_exception(*sys.exc_info())).rstrip("\n")
    now = time.time()
    line = format_line(now, level, name, text)
    with _Settings.lock:
        try:
            _Settings.sink.write(now, line)
        except (OSError, ValueError) as error:  # a full disk must not stop the server
            _to_stderr(f"cannot write the log ({error}): {line}")
        else:
            if level >= _Settings.echo_level:
                _to_stderr(line)


def _to_stderr(line):
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # no console (closed or None): the log file has it
        pass


def _render(message, args):
    message = str(message)
    if not args:
        return message
    try:
        return message % args
    except (TypeError, ValueError, KeyError):
        return f"{message} (unformatted arguments: {args!r})"
