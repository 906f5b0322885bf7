"""GET_ENHANCED_GRAPH_DATA payloads (spec/storage.md §6.3, upstream MobileGetEnhancedGraphDataLogic and
ReportingDiskDao): which file each data stream of a Superchart reads, tag merging with the stream's
function, and the zlib-compressed reply body.

Owns: turning a Superchart and a period into read requests, and read results into the reply bytes.
Never does: socket I/O; `read_requests` blocks on the disk and runs on a worker.

Invariant: the uncompressed payload is `int32 dashId` then, per data stream in array order,
`int32 count` and `count` big-endian (float64 value, int64 ms) records, byte-identical to upstream.
"""
import struct
import zlib

from . import files
from .periods import LIVE, PERIODS

TAG_START_ID = 100_000              # upstream Tag.START_TAG_ID: targets from here are tags
DEVICE_SELECTOR_START_ID = 200_000  # upstream DeviceSelector.DEVICE_SELECTOR_STARTING_ID
FUNCTIONS = ("MIN", "MAX", "AVG", "SUM", "MED")
_INT = struct.Struct(">i")


class StreamRequest:
    """What one data stream reads: a device's file, several devices merged (a tag), the LIVE cache's
    bytes, or nothing (unknown target)."""
    __slots__ = ("paths", "merge", "function", "data")

    def __init__(self, paths=(), merge=False, function="AVG", data=None):
        self.paths = list(paths)
        self.merge = merge
        self.function = function if function in FUNCTIONS else "AVG"
        self.data = data


def period_of(name):
    """(points, granularity) of a period name; KeyError for an unknown one."""
    return PERIODS[name]


def superchart_streams(widget):
    """[(targetId, pinType, pin, functionType)] of a Superchart's data streams ("pin" holds the
    DataStream in upstream's JSON); a stream without a valid pin gives pin None."""
    out = []
    for entry in widget.get("dataStreams") or ():
        if not isinstance(entry, dict):
            out.append((None, None, None, None))
            continue
        stream = entry.get("pin") or entry.get("dataStream") or {}
        pin = stream.get("pin") if isinstance(stream, dict) else None
        pin_type = (stream.get("pinType") if isinstance(stream, dict) else None) or "VIRTUAL"
        target = entry.get("targetId") or 0
        valid = isinstance(pin, int) and 0 <= pin <= 255 and pin_type in files.PIN_TYPE_LETTERS
        out.append((target if isinstance(target, int) else 0, pin_type if valid else None,
                    pin if valid else None, entry.get("functionType") or "AVG"))
    return out


def read_one(request, count, skip):
    if request.data is not None:
        return request.data
    if not request.merge:
        return files.read_window(request.paths[0], count, skip) if request.paths else b""
    return merge([files.read_window(path, count, skip) for path in request.paths], request.function)


def merge(parts, function):
    """Records of several devices combined per timestamp with `function`, sorted by time (a tag)."""
    by_ts = {}
    for data in parts:
        for value, ts in files.unpack(data):
            by_ts.setdefault(ts, []).append(value)
    apply = _APPLY.get(function, _average)
    return files.pack((apply(values), ts) for ts, values in sorted(by_ts.items()))


def payload(dash_id, parts):
    """The compressed reply body, or None when every stream is empty (NO_DATA)."""
    if not any(parts):
        return None
    chunks = [_INT.pack(dash_id)]
    for data in parts:
        chunks.append(_INT.pack(len(data) // files.RECORD_SIZE))
        chunks.append(data)
    return zlib.compress(b"".join(chunks))


def live_window(stream, count, skip):
    """A stream's LIVE cache as record bytes, with upstream's window rule (b"" when empty)."""
    if stream is None:
        return b""
    values = stream.live_values()
    end = len(values) - skip
    start = max(0, end - count)
    return files.pack(values[start:end]) if end > start else b""


def _average(values):
    return sum(values) / len(values)


def _median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2 == 0:
        return (ordered[middle] + ordered[middle - 1]) / 2
    return ordered[middle]


_APPLY = {"MIN": min, "MAX": max, "AVG": _average, "SUM": sum, "MED": _median}
LIVE_PERIOD = LIVE
