"""The Java server's history files: `<reporting>/<userDir>/history_<dash>-<device>_<t><pin>_<granularity>.bin`.

Owns: file names, the 16-byte record layout (spec/storage.md §5.3), appends, windowed reads, truncation
and deletion. Never does: aggregation, scheduling, or anything on the reactor thread (every function
here blocks on the disk and runs on a worker).

Invariant: a file is a plain sequence of big-endian (float64 average, int64 bucket start ms) records,
written only by appending whole records in one write() call, so a Java server reads our files and we
read its files unchanged. A crash can leave at most a torn last record; readers ignore the trailing
bytes that do not form a whole record.
"""
import os
import struct

RECORD = struct.Struct(">dq")
RECORD_SIZE = RECORD.size           # 16 bytes: value float64 + timestamp int64, big-endian

MINUTE, HOURLY, DAILY = "minute", "hourly", "daily"
# granularity label → bucket length in ms (upstream GraphGranularityType)
PERIOD_MS = {MINUTE: 60_000, HOURLY: 3_600_000, DAILY: 86_400_000}
GRANULARITIES = (MINUTE, HOURLY, DAILY)
PIN_TYPE_LETTERS = {"DIGITAL": "d", "ANALOG": "a", "VIRTUAL": "v"}


def user_dir(email, app_name):
    """Upstream's per-account folder: the e-mail, plus `_<appName>` for apps other than Blynk."""
    return email if app_name == "Blynk" else f"{email}_{app_name}"


def device_prefix(dash_id, device_id):
    return f"history_{dash_id}-{device_id}_"


def file_name(dash_id, device_id, pin_type, pin, granularity):
    """`pin_type` is DIGITAL/ANALOG/VIRTUAL (or its letter)."""
    return f"{stem(dash_id, device_id, pin_type, pin)}{granularity}.bin"


def stem(dash_id, device_id, pin_type, pin):
    """What the three files of a pin share: the name up to its granularity."""
    return f"{device_prefix(dash_id, device_id)}{PIN_TYPE_LETTERS.get(pin_type, pin_type)}{pin}_"


def pack(records):
    """[(value, ts_ms)] → bytes of whole records."""
    return b"".join(RECORD.pack(value, ts) for value, ts in records)


def unpack(data):
    """bytes → [(value, ts_ms)], a torn trailing record ignored."""
    usable = len(data) - len(data) % RECORD_SIZE
    return list(RECORD.iter_unpack(data[:usable])) if usable else []


def append(path, data):
    """Append whole records in one write (the folder is created when missing)."""
    try:
        handle = open(path, "ab")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = open(path, "ab")
    with handle:
        handle.write(data)


def read_window(path, count, skip=0):
    """The records `[max(0, N - count - skip), N - skip)` of a file as raw bytes (spec/storage.md
    §6.1), b"" when the file is missing or the window empty."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            records = size // RECORD_SIZE
            end = records - skip
            start = max(0, end - count)
            if end <= start:
                return b""
            handle.seek(start * RECORD_SIZE)
            return handle.read((end - start) * RECORD_SIZE)
    except FileNotFoundError:
        return b""


def record_count(path):
    try:
        return os.path.getsize(path) // RECORD_SIZE
    except OSError:
        return 0


def truncate_to_newest(path, keep_records):
    """Cut a file to its newest `keep_records` records (ReportingTruncateWorker); True when cut."""
    size = os.path.getsize(path)
    records = size // RECORD_SIZE
    if records <= keep_records:
        return False
    with open(path, "rb") as handle:
        handle.seek((records - keep_records) * RECORD_SIZE)
        newest = handle.read(keep_records * RECORD_SIZE)
    temp = path + ".tmp"
    with open(temp, "wb") as handle:
        handle.write(newest)
    os.replace(temp, path)
    return True


def delete_where(folder, doomed):
    """Delete every file in `folder` for which `doomed(name, path)` is true; the count removed. A file
    that vanishes or cannot be removed meanwhile is skipped (the next cleanup tries again)."""
    removed = 0
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    for name in names:
        path = os.path.join(folder, name)
        try:
            if doomed(name, path):
                os.remove(path)
                removed += 1
        except OSError:
            pass
    return removed


def delete_matching(folder, prefixes):
    """Delete every file in `folder` whose name starts with one of `prefixes`; the count removed."""
    prefixes = tuple(prefixes)
    return delete_where(folder, lambda name, path: name.startswith(prefixes))


def delete_folder(folder):
    """Remove an account's whole history folder (the account was deleted)."""
    removed = delete_matching(folder, ("",))
    try:
        os.rmdir(folder)
    except OSError:
        pass
    return removed
