"""The public HTTP pipeline of both ports (spec/http-api.md §2–3): `/`, static files, the token API.

`handle(request, secure)` returns a Reply; a handler's HttpProblem becomes its reply, and an
unexpected error a 500 with a log line, never a dropped connection.
"""

from . import history_http, http_api, static_files
from .http_common import HttpProblem, Reply, Router, not_found, redirect, server_error
from ..logger import get_logger

log = get_logger("blynklite.http")

BLYNK_SITE = "https://www.blynk.cc"
PREFLIGHT_HEADERS = (("Access-Control-Allow-Methods", "GET, PUT, POST, OPTIONS"),
                     ("Access-Control-Allow-Headers", "Content-Type"),
                     ("Access-Control-Max-Age", "86400"))


class PublicWeb:
    def __init__(self, server, routes=http_api.ROUTES + history_http.ROUTES):
        self.server = server
        self.router = Router()
        for method, template, handler in routes:
            self.add_route(method, template, handler)

    def add_route(self, method, template, handler):
        self.router.add(method, template, handler)

    def handle(self, request, secure):
        path = request.path
        if path == "/":
            return self.root_redirect(secure)
        if request.method == "OPTIONS":
            return Reply(200, headers=PREFLIGHT_HEADERS)
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
        handler, params = self.router.match(method, path)
        if handler is None:
            return not_found()
        return call(handler, self.server, request, params)

    def root_redirect(self, secure):
        config = self.server.config
        if secure and config["region"] == "local":
            return redirect(config["admin.rootPath"])
        return redirect(BLYNK_SITE)


def acme_challenge(server, request, path):
    """The http-01 key authorization of a Let's Encrypt run (plain port only, behaviours.md §6)."""
    content = server.acme.challenge_content(path.rsplit("/", 1)[1]) if server.acme is not None else None
    if content is None or request.method not in ("GET", "HEAD"):
        return not_found()
    return Reply(200, content.encode("ascii"), "text/html")


def call(handler, server, request, params):
    try:
        return handler(server, request, **params)
    except HttpProblem as problem:
        return problem.reply
    except Exception:
        log.exception("HTTP %s failed", handler.__name__)
        return server_error("Internal server error.")
