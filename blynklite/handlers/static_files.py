"""Files shipped in the package's `static/` folder: the admin page, its script and style, the favicon.

Only files inside that folder are ever served: the requested path is resolved (symlinks and `..`
included) and must still lie inside it, else 404. Upstream also refuses URIs containing `/.`,
`./`, `\\` and `<>&"`; we do the same before touching the file system.
"""
import os
import time

from .http_common import Reply, not_found

STATIC_ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.dirname(__file__)), "static"))
CONTENT_TYPES = {
    ".html": "text/html;charset=utf-8", ".css": "text/css;charset=utf-8",
    ".js": "application/javascript;charset=utf-8", ".json": "application/json;charset=utf-8",
    ".png": "image/png", ".ico": "image/x-icon", ".svg": "image/svg+xml",
    ".txt": "text/plain;charset=utf-8", ".bin": "application/octet-stream",
}
MAX_AGE = 60
_REFUSED = ("/.", "./", "\\", "<", ">", "&", '"')


def resolve(relative):
    """The real path of `relative` inside STATIC_ROOT, or None if it would leave it or is no file."""
    if any(part in relative for part in _REFUSED) or "\0" in relative:
        return None
    path = os.path.realpath(os.path.join(STATIC_ROOT, relative.lstrip("/")))
    if os.path.commonpath((path, STATIC_ROOT)) != STATIC_ROOT or not os.path.isfile(path):
        return None
    return path


def serve(relative, request=None, cache=True):
    path = resolve(relative)
    if path is None:
        return not_found()
    modified = int(os.path.getmtime(path))
    last_modified = http_date(modified)
    if cache and request is not None and request.header("if-modified-since") == last_modified:
        return Reply(304)
    with open(path, "rb") as f:
        body = f.read()
    content_type = CONTENT_TYPES.get(os.path.splitext(path)[1].lower(), "application/octet-stream")
    if cache:
        headers = [("Cache-Control", f"private, max-age={MAX_AGE}"), ("Last-Modified", last_modified)]
    else:
        headers = [("Cache-Control", "no-store")]
    return Reply(200, body, content_type, headers)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(timestamp):
    """RFC 7231 IMF-fixdate (email.utils would do it too, at 0.8 MB of imports)."""
    t = time.gmtime(timestamp)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")
