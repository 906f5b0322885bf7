"""HTTP on the shared ports: one protocol object per HTTP connection (spec/framing.md §3.1).

Owns: feeding the request parser, choosing each request's pipeline (admin, hardware websocket,
app websocket, or the REST API), answering requests in order, and
handing a websocket connection over to `sessions/websocket.py`. Never does: endpoint logic; that is in
handlers/http_api.py, handlers/admin.py and handlers/web.py.

Invariant: a request is answered before the next one is read, so pipelined requests get their
answers in order; any HttpError answers with its status and closes this connection only.
"""
import re

from ..codec.http import HttpError, RequestParser, response
from ..handlers import http_common as H
from ..logger import DEBUG, get_logger

log = get_logger("blynklite.http")

API, ADMIN, HARDWARE_WS, APP_WS = "api", "admin", "hardware-ws", "app-ws"
# A keep-alive connection that says nothing for this long is closed.
HTTP_IDLE_TIMEOUT = 60
# A request must arrive whole this long after its first byte: no route needs longer on a LAN, and a
# peer trickling a request line would otherwise hold its connection (and buffer) forever.
REQUEST_TIMEOUT = 15.0
# Body bytes a request without credentials (no known device token, no admin cookie) may send: a
# sign-in form fits, and 1,000 such peers cannot make us buffer more than a few megabytes.
UNAUTHENTICATED_BODY_BYTES = 4096
MAX_HEADER_BYTES = 16 * 1024
_TOKEN_IN_PATH = re.compile(r"^/[A-Za-z0-9_-]{20,}(?=/|$)")


def redact(path):
    """Request paths carry device tokens; logs show only their first 4 characters."""
    return _TOKEN_IN_PATH.sub(lambda m: m.group(0)[:5] + "…", path)


class HttpSession:
    __slots__ = ("server", "conn", "parser", "secure")

    def __init__(self, server, conn, secure):
        self.server = server
        self.conn = conn
        self.secure = secure
        self.parser = RequestParser(max_header_bytes=MAX_HEADER_BYTES,
                                    max_body_bytes=server.config["web.request.max.size"])
        self.parser.body_limit_for = self.body_limit_for
        conn.idle_timeout = HTTP_IDLE_TIMEOUT

    def data_received(self, data):
        try:
            self.parser.feed(data)
            while self.conn.protocol is self and not self.conn.closed:
                request = self.parser.next_request()
                if request is None:
                    self._arm_request_deadline()
                    return
                self.handle(request)
        except HttpError as error:
            log.info("HTTP %s from %s: %s", error.status, self.conn.peer[0], error.message)
            self.conn.write(response(error.status, error.message.encode("utf-8"), H.TEXT_TYPE,
                                     error.headers, keep_alive=False))
            self.conn.close(f"HTTP {error.status}")

    def _arm_request_deadline(self):
        """No deadline while idle between requests; one from the first byte of a partial request."""
        conn = self.conn
        if conn.protocol is not self:
            return
        if not self.parser.has_partial():
            conn.deadline = 0
        elif not conn.deadline:
            conn.deadline = self.server.reactor.now + REQUEST_TIMEOUT

    def body_limit_for(self, request):
        """The body a request may send, decided from its head (parser.body_limit_for): full size
        only with credentials (a known device token, an admin cookie or Basic auth), and firmware
        uploads to the admin area may be larger than `web.request.max.size`."""
        default = self.parser.max_body_bytes
        path = request.path
        root = self.server.config["admin.rootPath"].rstrip("/")
        if not (self.secure and path.startswith(root)):
            known = self.server.hub.resolve_token(path[1:].split("/", 1)[0]) is not None
            return default if known else UNAUTHENTICATED_BODY_BYTES
        from ..handlers import ota
        if self.server.admin.signed_in(request) is None:
            basic = ota.basic_auth_admin(self.server, request)
            if isinstance(basic, H.Reply):   # wrong Basic credentials: answered before the body
                raise HttpError(basic.status, basic.body.decode("utf-8"))
            if basic is None:
                return UNAUTHENTICATED_BODY_BYTES
        if request.method == "POST" and path in (root + "/ota/start", root + "/upload"):
            return ota.body_limit(default)
        return default

    def handle(self, request):
        pipeline = self.choose_pipeline(request)
        if pipeline is None:
            log.info("admin request from %s refused by allowed.administrator.ips", self.conn.peer[0])
            self.conn.abort("not an allowed administrator address")
            return
        if pipeline in (HARDWARE_WS, APP_WS):
            from . import websocket
            websocket.upgrade(self, request, app=pipeline == APP_WS)
            return
        if pipeline == ADMIN:
            reply = self.server.admin.handle(request, self.conn.peer[0])
        else:
            reply = self.server.web.handle(request, self.secure)
        if getattr(reply, "deliver", None) is not None:     # finished on a worker (handlers/history_http.Later)
            reply.deliver(lambda final: self.send(request, final, cors=pipeline == API))
            return
        self.send(request, reply, cors=pipeline == API)

    def choose_pipeline(self, request):
        """Per request, not per connection as upstream: a browser reuses the connection that
        followed the `/` redirect for `/admin`. Static files are public on every pipeline."""
        path = request.path
        admin_root = self.server.config["admin.rootPath"]
        if self.secure and path.startswith(admin_root):
            if not self.server.admin.ip_allowed(self.conn.peer[0]):
                return None
            return ADMIN
        if path.startswith("/websocket"):
            return HARDWARE_WS
        if self.secure and path == "/dashws":
            return APP_WS
        return API

    def send(self, request, reply, cors):
        headers = list(reply.headers)
        if cors:
            headers.append(("Access-Control-Allow-Origin", "*"))
        stream = getattr(reply, "stream", None)
        if stream is not None:      # a body too large to queue at once (handlers/ota.FirmwareReply)
            log.debug("%s %s %s -> %s (streamed)", self.conn.peer[0], request.method, redact(request.path),
                      reply.status)
            stream(self, request, headers)
            return
        keep_alive = request.keep_alive and not reply.close
        self.conn.write(response(reply.status, reply.body, reply.content_type, headers,
                                 keep_alive=keep_alive, head=request.method == "HEAD"))
        if log.isEnabledFor(DEBUG):
            log.debug("%s %s %s -> %s", self.conn.peer[0], request.method, redact(request.path), reply.status)
        if not keep_alive:
            self.conn.close("HTTP connection: close")

    def connection_lost(self, reason):
        pass
