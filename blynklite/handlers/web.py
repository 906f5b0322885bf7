"""The public HTTP pipeline of both ports (spec/http-api.md §2–3): `/`, static files, the token API.

`handle(request, secure)` returns a Reply; a handler's HttpProblem becomes its reply, and an
unexpected error a 500 with a log line, never a dropped connection.

On the plain port `/` is a small local page saying what this server is (upstream sends browsers to
blynk.cc, which knows nothing of a server on a Pi), and the admin path redirects to the TLS port.
"""
import os
import re

from . import history_http, http_api, reset_pages, static_files
from .http_common import HttpProblem, Reply, Router, not_found, redirect, server_error
from .static_files import STATIC_ROOT
from .. import __version__
from ..logger import get_logger

log = get_logger("blynklite.http")

BLYNK_SITE = "https://www.blynk.cc"
LANDING_PAGE = "landing.html"
# A Host header is used in links only when it is a plain name or address with an optional port.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")
# HTML escapes for the landing page's values (the stdlib `html` module loads a 2,000-entry table)
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})

# Upstream's statistics codes of the HTTP API (its Command.HTTP_*, spec/behaviours.md §9): every routed
# API request adds 1 to HTTP_TOTAL and to its route's code in `server.stats` (read by handlers/admin_stats.py).
HTTP_IS_HARDWARE_CONNECTED, HTTP_IS_APP_CONNECTED, HTTP_GET_PIN_DATA, HTTP_UPDATE_PIN_DATA = 82, 83, 84, 85
HTTP_NOTIFY, HTTP_EMAIL, HTTP_GET_PROJECT, HTTP_QR, HTTP_GET_HISTORY_DATA = 86, 87, 88, 89, 90
HTTP_CLONE, HTTP_TOTAL = 93, 94
HTTP_METRICS = {
    http_api.is_hardware_connected: HTTP_IS_HARDWARE_CONNECTED, http_api.is_app_connected: HTTP_IS_APP_CONNECTED,
    http_api.get_pin: HTTP_GET_PIN_DATA, http_api.get_rtc: HTTP_GET_PIN_DATA,
    http_api.update_from_query: HTTP_UPDATE_PIN_DATA, http_api.update_from_body: HTTP_UPDATE_PIN_DATA,
    http_api.update_with_timestamps: HTTP_UPDATE_PIN_DATA, http_api.notify: HTTP_NOTIFY,
    http_api.email: HTTP_EMAIL, http_api.get_project: HTTP_GET_PROJECT, http_api.get_qr: HTTP_QR,
    history_http.get_history_data: HTTP_GET_HISTORY_DATA, http_api.get_clone: HTTP_CLONE,
}
HTTP_CODES = frozenset(HTTP_METRICS.values()) | {HTTP_TOTAL}


class PublicWeb:
    def __init__(self, server, routes=http_api.ROUTES + reset_pages.ROUTES + history_http.ROUTES):
        self.server = server
        self.router = Router()
        for method, template, handler in routes:
            self.add_route(method, template, handler)

    def add_route(self, method, template, handler):
        self.router.add(method, template, handler)

    def handle(self, request, secure):
        path = request.path
        if path == "/":
            return self.root_redirect(secure) if secure else landing_page(self.server, request)
        if not secure and is_admin_path(path, self.server.config["admin.rootPath"]):
            return Reply(302, headers=[("Location", admin_url(self.server, request))])
        if request.method == "OPTIONS":
            return not_found()          # upstream has no OPTIONS route: its NoMatchHandler answers 404
        method = "GET" if request.method == "HEAD" else request.method
        if path == "/favicon.ico":
            path = "/static/favicon.ico"
        if not secure and path.startswith("/.well-known/acme-challenge/"):
            return acme_challenge(self.server, request, path)
        if method == "GET" and path.startswith("/static/ota/"):
            from . import ota
            return ota.serve(self.server, request, path[len("/static/ota/"):])
        if method == "GET" and path.startswith("/static/"):
            return static_files.serve(path[len("/static/"):], request)
        if request.method == "HEAD":
            return not_found()          # the API has GET/PUT/POST routes only (upstream: 404)
        handler, params = self.router.match(method, path)
        if handler is None:
            return not_found()
        count(self.server.stats, handler)
        return call(handler, self.server, request, params)

    def root_redirect(self, secure):
        config = self.server.config
        if secure and config["region"] == "local":
            return redirect(config["admin.rootPath"])
        return redirect(BLYNK_SITE)


def is_admin_path(path, admin_root):
    """`/admin` and below; an admin.rootPath of `/` would take the whole plain port, so it takes none."""
    root = admin_root.rstrip("/")
    return bool(root) and (path == root or path.startswith(root + "/"))


def request_host(server, request):
    """The host name the browser used (without its port), else server.host or the detected address."""
    match = _HOST.fullmatch(request.header("host") or "")
    return match.group(1) if match else server.public_host()


def admin_url(server, request):
    config = server.config
    return f"https://{request_host(server, request)}:{config['https.port']}{config['admin.rootPath']}"


def landing_page(server, request):
    with open(os.path.join(STATIC_ROOT, LANDING_PAGE), encoding="utf-8") as f:
        page = f.read()
    values = {"version": __version__, "host": request_host(server, request),
              "admin_url": admin_url(server, request),
              "http_port": server.config["http.port"], "https_port": server.config["https.port"]}
    for name, value in values.items():
        page = page.replace("{{" + name + "}}", str(value).translate(_HTML_ESCAPES))
    return Reply(200, page.encode("utf-8"), "text/html;charset=utf-8", [("Cache-Control", "no-store")])


def acme_challenge(server, request, path):
    """The http-01 key authorization of a Let's Encrypt run (plain port only, behaviours.md §6)."""
    content = server.acme.challenge_content(path.rsplit("/", 1)[1]) if server.acme is not None else None
    if content is None or request.method not in ("GET", "HEAD"):
        return not_found()
    return Reply(200, content.encode("ascii"), "text/html")


def count(stats, handler):
    """Upstream's HTTP API counters: the total and the route's own code (none for the reset pages)."""
    stats[HTTP_TOTAL] += 1
    metric = HTTP_METRICS.get(handler)
    if metric is not None:
        stats[metric] += 1


def call(handler, server, request, params):
    try:
        return handler(server, request, **params)
    except HttpProblem as problem:
        return problem.reply
    except Exception:
        log.exception("HTTP %s failed", handler.__name__)
        return server_error("Internal server error.")
