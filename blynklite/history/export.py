"""CSV exports (spec/storage.md §6.4, upstream CSVGenerator): gzip files of a pin's minute history in the
export folder, and the spreadsheet form (one column per stream, ISO local time).

Owns: export file names, Java's double text form, both CSV layouts, and the export folder's cleanup.
Never does: socket I/O, mail; everything here blocks on the disk and runs on a worker.

Invariant: the seed form is byte-for-byte upstream's: `value,timestamp,deviceId\\n` lines, oldest first
per device, value as Java's `Double.toString`, timestamp in epoch ms, gzip, ASCII. A file name is
`<email>_<dashId>_<deviceId>_<t><pin>_<epochMillis>.csv.gz` and never contains a path separator.
"""
import datetime
import decimal
import gzip
import math
import os
import tempfile

from . import files

CSV_SUFFIX = ".csv.gz"
# Upstream keeps exports in <java.io.tmpdir>/blynk; we use the same folder name under Python's tempdir.
EXPORT_FOLDER = os.path.join(tempfile.gettempdir(), "blynk")
SHEET_FORMAT = "sheet"      # ?format=sheet: the spreadsheet-ready layout
SHEET_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class NoData(Exception):
    """None of the requested streams has a record."""


def java_double(value):
    """Java's Double.toString: `1.11`, `100.0`, `1.0E-4`, `1.0E10` (shortest round-trip digits)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if "e" not in text else format(decimal.Decimal(text), "f")
    sign, all_digits, exponent = decimal.Decimal(repr(value)).as_tuple()
    power = exponent + len(all_digits) - 1
    digits = "".join(map(str, all_digits)).rstrip("0") or "0"
    return f"{'-' if sign else ''}{digits[0]}.{digits[1:] or '0'}E{power}"


def export_name(email, dash_id, device_id, pin_type, pin, now_ms):
    letter = files.PIN_TYPE_LETTERS.get(pin_type, pin_type)
    return f"{email}_{dash_id}_{device_id}_{letter}{pin}_{now_ms}{CSV_SUFFIX}"


def download_url(server):
    """Upstream's link base for exports: http://host:http.port/ (no port with force.port.80.for.csv)."""
    host = server.public_host()
    if server.config["force.port.80.for.csv"]:
        return f"http://{host}/"
    return f"http://{host}:{server.config['http.port']}/"


def safe_name(name):
    """The export file a URL names, or None when the name could leave the export folder."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or not name.endswith((".gz", ".zip")):
        return None
    return name


def write_seed_csv(folder, name, minute_files, max_points):
    """`minute_files` = [(device_id, path)]; each device's newest `max_points` minute records in turn.
    Returns the path; raises NoData (and leaves no file) when every device is empty."""
    chunks = []
    for device_id, path in minute_files:
        suffix = f",{device_id}\n"
        for value, ts in files.unpack(files.read_window(path, max_points)):
            chunks.append(f"{java_double(value)},{ts}{suffix}")
    if not chunks:
        raise NoData()
    return _write_gzip(folder, name, "".join(chunks))


def write_sheet_csv(folder, name, columns, max_points, zone):
    """The spreadsheet form: `time,<col1>,<col2>...` with one row per minute present in any column,
    times in ISO 8601 local time of `zone` (a tzinfo), empty cells where a column has no value.
    `columns` = [(title, path)]."""
    table = {}
    for position, (_, path) in enumerate(columns):
        for value, ts in files.unpack(files.read_window(path, max_points)):
            table.setdefault(ts, {})[position] = value
    if not table:
        raise NoData()
    lines = ["time," + ",".join(_csv_cell(title) for title, _ in columns) + "\n"]
    for ts in sorted(table):
        when = datetime.datetime.fromtimestamp(ts / 1000, zone).strftime(SHEET_TIME_FORMAT)
        row = table[ts]
        cells = (java_double(row[i]) if i in row else "" for i in range(len(columns)))
        lines.append(when + "," + ",".join(cells) + "\n")
    return _write_gzip(folder, name, "".join(lines))


def clean_exports(folder, max_age_ms, now_ms):
    """Delete exports older than `max_age_ms` (store.export.csv.report.days); the count removed."""
    return files.delete_where(folder, lambda name, path: name.endswith((".gz", ".zip"))
                              and now_ms - os.path.getmtime(path) * 1000 > max_age_ms)


def _csv_cell(text):
    text = str(text)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def _write_gzip(folder, name, text):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    temp = path + ".part"
    with gzip.open(temp, "wb") as handle:
        handle.write(text.encode("ascii", "replace"))
    os.replace(temp, path)
    return path
