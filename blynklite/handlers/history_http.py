"""History over HTTP (spec/http-api.md §2.9): `GET /{token}/data/{pin}` writes a CSV of the pin's minute
history and answers 301 to it; the export files are served from the export folder at `/<name>.gz`
(upstream's links) and `/csv/<name>`.

`?format=sheet` asks for the spreadsheet form instead: `time,<pin>,<pin>...` with one row per minute in
ISO 8601 local time (`&tz=Europe/Berlin`, default UTC) and one column per pin; `{pin}` may then name
several pins separated by commas (`/{token}/data/v1,v2?format=sheet`).

The CSV is written and read on a worker (a `Later` reply); the reactor never touches the disk here.
"""
import datetime
import os

from ..history import export, files
from .http_api import PinAddress, resolve
from .http_common import Reply, bad_request, not_found, redirect, server_error
from ..logger import get_logger

log = get_logger("blynklite.http")

GZIP_TYPE = "application/x-gzip"
ZIP_TYPE = "application/zip"        # Report widget archives
MAX_SHEET_PINS = 16     # columns in one spreadsheet export; more is a mistake, not a use


class Later:
    """A reply finished on a worker: HttpSession calls `deliver(send)`; `send(reply)` runs on the
    reactor thread once `work(*args)` is done, with `finish(result)` or `fail(error)` as the reply.
    `send` is called exactly once; the session writes it in request order (sessions/http.py) and
    drops it if the connection closed meanwhile."""
    __slots__ = ("server", "work", "args", "finish", "fail")

    def __init__(self, server, work, args, finish, fail):
        self.server, self.work, self.args, self.finish, self.fail = server, work, args, finish, fail

    def deliver(self, send):
        if not self.server.workers.submit(self.work, *self.args, on_done=lambda result, error:
                                          send(self._reply(result, error))):
            send(server_error("Server is busy."))

    def _reply(self, result, error):
        try:
            return self.fail(error) if error is not None else self.finish(result)
        except Exception as failure:        # a bug here must still answer, not leave the peer waiting
            log.exception("building the reply of %s failed: %s", getattr(self.work, "__name__", self.work), failure)
            return server_error("Server error.")


def get_history_data(server, request, token, pin):
    ref = resolve(server, token)
    user, dash, device = ref.user, ref.dash, ref.device
    history, now = server.history, server.reactor.wall_ms
    max_points = server.config["csv.export.data.points.max"]
    if request.query.get("format", [""])[0] == export.SHEET_FORMAT:
        return _sheet(server, request, ref, pin)
    address = PinAddress(pin)
    name = export.export_name(user.email, dash.id, device.id, address.pin_type, address.pin, now)
    path = history.path(user, dash.id, device.id, address.pin_type, address.pin, files.MINUTE)
    return Later(server, export.write_seed_csv, (export.EXPORT_FOLDER, name, [(device.id, path)], max_points),
                 lambda _: redirect("/" + name), _export_failed)


def _sheet(server, request, ref, pins):
    addresses = [PinAddress(p) for p in pins.split(",")]
    if len(addresses) > MAX_SHEET_PINS:
        return bad_request("Too many pins.")
    zone = _zone(request.query.get("tz", ["UTC"])[0])
    if zone is None:
        return bad_request("Wrong time zone.")
    user, dash, device = ref.user, ref.dash, ref.device
    columns = [(a.letter + str(a.pin), server.history.path(user, dash.id, device.id, a.pin_type, a.pin, files.MINUTE))
               for a in addresses]
    label = "-".join(title for title, _ in columns)
    name = f"{user.email}_{dash.id}_{device.id}_{label}_{server.reactor.wall_ms}.sheet{export.CSV_SUFFIX}"
    max_points = server.config["csv.export.data.points.max"]
    return Later(server, export.write_sheet_csv, (export.EXPORT_FOLDER, name, columns, max_points, zone),
                 lambda _: redirect("/" + name), _export_failed)


def _zone(name):
    if name.upper() == "UTC":
        return datetime.timezone.utc
    try:
        import zoneinfo
        return zoneinfo.ZoneInfo(name)
    except (ImportError, ValueError, KeyError, OSError):
        return None


def _export_failed(error):
    if isinstance(error, export.NoData):
        return bad_request("No data.")
    log.error("CSV export failed: %s", error)
    return bad_request("Error getting pin data.")


def get_export_file(server, request, name):
    """An export file by name (`/<name>.gz` or a report's `/<name>.zip` as upstream links them, or
    `/csv/<name>`)."""
    name = export.safe_name(name)
    if name is None:
        return not_found()
    return Later(server, _read, (os.path.join(export.EXPORT_FOLDER, name),),
                 lambda data: Reply(200, data, ZIP_TYPE if name.endswith(".zip") else GZIP_TYPE)
                 if data is not None else not_found(),
                 lambda error: server_error("Error reading the file."))


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


ROUTES = (
    ("GET", "/{token}/data/{pin}", get_history_data),
    ("GET", "/csv/{name}", get_export_file),
    ("GET", "/{name}", get_export_file),
)
