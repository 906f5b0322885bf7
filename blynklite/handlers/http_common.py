"""What HTTP handlers return, and how a request finds its handler (spec/http-api.md §1).

A handler is `handler(server, request, **path_params) -> Reply`. It may also raise `HttpProblem`
carrying the reply (a 400 deep inside a helper), which the HTTP session answers the same way.
Handlers never touch sockets; the session turns a Reply into bytes.
"""
import json
import re

from ..codec import json_text

JSON_TYPE = "application/json;charset=utf-8"
TEXT_TYPE = "text/plain;charset=utf-8"
HTML_TYPE = "text/html;charset=utf-8"

# Upstream's path-parameter characters: an RFC 3986 pchar without '/'.
_PARAM_CHARS = r"[A-Za-z0-9_%\-.~!$&'()*+,;=:\[\]@]+"
_TEMPLATE_PARAM = re.compile(r"\{(\w+)\}")


class Reply:
    __slots__ = ("status", "body", "content_type", "headers", "close")

    def __init__(self, status, body=b"", content_type=None, headers=(), close=False):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = list(headers)
        self.close = close

    def __repr__(self):
        return f"<Reply {self.status} {self.body[:40]!r}>"


class HttpProblem(Exception):
    def __init__(self, reply):
        super().__init__(reply.status)
        self.reply = reply


def ok(body=None):
    """200: empty, or `body` (already JSON text, or an object to encode) as application/json."""
    if body is None:
        return Reply(200)
    if not isinstance(body, (str, bytes)):
        body = to_json(body)
    return Reply(200, body, JSON_TYPE)


def bad_request(message):
    return Reply(400, message, TEXT_TYPE)


def forbidden(message):
    return Reply(403, message, TEXT_TYPE)


def server_error(message):
    return Reply(500, message, TEXT_TYPE)


def redirect(location, headers=()):
    return Reply(301, headers=[("Location", location), *headers])


def not_found():
    return Reply(404)


def to_json(value):
    """Compact JSON as the Java server writes it: no spaces, non-ASCII left as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_body(request, expected_type):
    """The request's JSON body, checked as upstream checks it (before the token is looked at)."""
    if "application/json" not in (request.header("content-type") or ""):
        raise HttpProblem(server_error("Unexpected content type. Expecting application/json."))
    raw = request.body.decode("utf-8", "replace")
    try:
        value = json_text.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, expected_type):
        raise HttpProblem(server_error(f"Error parsing body param. {raw}"))
    return value


class Router:
    """Routes by method and path template, e.g. `("GET", "/{token}/get/{pin}")`, in the order added."""

    def __init__(self):
        self._routes = []

    def add(self, method, template, handler):
        parts = _TEMPLATE_PARAM.split(template)   # literal, name, literal, name, ...
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_PARAM_CHARS})"
                        for i, part in enumerate(parts))
        self._routes.append((method, re.compile(regex + "$"), handler))

    def match(self, method, path):
        """(handler, params) for the first route that fits, else (None, None)."""
        for route_method, pattern, handler in self._routes:
            if route_method != method:
                continue
            found = pattern.match(path)
            if found:
                return handler, found.groupdict()
        return None, None
