"""HTTP on the shared ports: one protocol object per HTTP connection (spec/framing.md §3.1).

Owns: feeding the request parser, choosing each request's pipeline (admin, hardware websocket,
app websocket, or the REST API), answering requests in order, and
handing a websocket connection over to `sessions/websocket.py`. Never does: endpoint logic; that is in
handlers/http_api.py, handlers/admin.py and handlers/web.py.

Replies finished on a worker (any reply with `deliver(send)`: history_http.Later for CSV exports,
export files and clone codes, reset_pages.MailReply) hold the connection: the requests pipelined
behind one are not parsed (their bytes wait, at most MAX_HELD_BYTES of them) until its answer has
been written, as Netty answers in order. While one is pending the server has the turn, so the
idle timeout and REQUEST_TIMEOUT are off and PENDING_REPLY_TIMEOUT bounds the wait instead.

Invariant: a request is answered before the next one is parsed, so pipelined requests get their
answers in order; any HttpError answers with its status and closes this connection only; a reply
that comes back after its connection closed (or after PENDING_REPLY_TIMEOUT) is dropped.
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
# Bytes of later requests a connection may send while a reply is finished on a worker: the heads of
# a few pipelined requests fit (browsers and device libraries send one request at a time); more is
# dropped with the connection, as a full output queue is (net/connection.py HIGH_WATER, same size).
MAX_HELD_BYTES = 64 * 1024
# A worker reply comes back in milliseconds (a CSV, a clone code) or within the mail timeouts
# (30 s to connect plus 120 s for an answer, notify/mail.py); past this the peer gets a 503.
PENDING_REPLY_TIMEOUT = 180.0
_TOKEN_IN_PATH = re.compile(r"^/[A-Za-z0-9_-]{20,}(?=/|$)")


def redact(path):
    """Request paths carry device tokens; logs show only their first 4 characters."""
    return _TOKEN_IN_PATH.sub(lambda m: m.group(0)[:5] + "…", path)


class Pending:
    """The request whose reply a worker is finishing, and the timer that gives up on it."""
    __slots__ = ("request", "cors", "timer")

    def __init__(self, request, cors):
        self.request, self.cors, self.timer = request, cors, None


class HttpSession:
    __slots__ = ("server", "conn", "parser", "secure", "pending", "held", "serving")

    def __init__(self, server, conn, secure):
        self.server = server
        self.conn = conn
        self.secure = secure
        self.parser = RequestParser(max_header_bytes=MAX_HEADER_BYTES,
                                    max_body_bytes=server.config["web.request.max.size"])
        self.parser.body_limit_for = self.body_limit_for
        self.pending = None     # the Pending reply the next requests wait for
        self.held = None        # bytearray of what arrived meanwhile, parsed once it is answered
        self.serving = False    # inside data_received: a reply delivered now needs no resume
        conn.idle_timeout = HTTP_IDLE_TIMEOUT

    def data_received(self, data):
        if self.pending is not None:
            self._hold(data)
            return
        self.serving = True
        try:
            self.parser.feed(data)
            while self.pending is None and self.conn.protocol is self and not self.conn.closed:
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
        finally:
            self.serving = False

    def _hold(self, data):
        """Bytes of later requests while a reply is pending: kept, not parsed, up to MAX_HELD_BYTES."""
        held = self.held
        if held is None:
            held = self.held = bytearray()
        if len(held) + len(data) > MAX_HELD_BYTES:
            log.info("%s pipelined over %d bytes while a reply was pending; closing", self.conn.peer[0],
                     MAX_HELD_BYTES)
            self.conn.abort("too many pipelined bytes")
            return
        held += data

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
            basic = ota.basic_auth_admin(self.server, request, self.conn.peer[0])
            if isinstance(basic, H.Reply):   # wrong Basic credentials (or blocked): answered before the body
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
            self._wait_for(reply, Pending(request, pipeline == API))
            return
        self.send(request, reply, cors=pipeline == API)

    # -- replies finished on a worker -------------------------------------------------------------
    def _wait_for(self, reply, pending):
        """Parse nothing more until `reply` is delivered (it may be at once: a full worker queue)."""
        conn = self.conn
        self.pending = pending
        conn.idle_timeout = 0       # the peer waits for us: not idle
        conn.deadline = 0
        pending.timer = self.server.reactor.call_later(PENDING_REPLY_TIMEOUT, self._overdue, pending)
        reply.deliver(lambda final: self._delivered(pending, final))

    def _delivered(self, pending, reply):
        if self.pending is not pending:     # the connection closed, or the wait timed out
            log.debug("a worker reply for %s came after its connection closed; dropped", self.conn.peer[0])
            return
        self._stop_waiting()
        self.send(pending.request, reply, pending.cors)
        if not self.serving:                # a later round: parse what waited behind it
            held, self.held = self.held, None
            if self.conn.protocol is self:
                self.data_received(held or b"")

    def _overdue(self, pending):
        if self.pending is not pending:
            return
        log.warning("%s %s from %s: no reply from the worker in %ss; 503", pending.request.method,
                    redact(pending.request.path), self.conn.peer[0], PENDING_REPLY_TIMEOUT)
        self._stop_waiting()
        self.held = None
        self.send(pending.request, H.Reply(503, "The reply took too long.", H.TEXT_TYPE, close=True),
                  pending.cors)

    def _stop_waiting(self):
        pending, self.pending = self.pending, None
        pending.timer.cancel()
        conn = self.conn
        conn.idle_timeout = HTTP_IDLE_TIMEOUT
        conn.last_read = self.server.reactor.now    # idle counts from our answer, not from the request

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
        if self.pending is not None:    # its reply, when it comes, goes nowhere (see _delivered)
            log.debug("%s closed while a reply was pending (%s)", self.conn.peer[0], reason)
            self.pending.timer.cancel()
            self.pending = None
        self.held = None
