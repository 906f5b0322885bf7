"""The first protocol of every connection: waits for 5 bytes, then hands over to the right session
(spec/framing.md §3). Until the HTTP issue lands, HTTP requests get a clear HTTP error response."""
import logging

from .codec import sniffer

log = logging.getLogger("blynklite.net")

# A connection that has not said 5 bytes by then is dropped (TLS handshake included).
DETECT_TIMEOUT = 10

HTTP_NOT_AVAILABLE = (b"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain;charset=utf-8\r\n"
                      b"Content-Length: 47\r\nConnection: close\r\n\r\n"
                      b"The HTTP API is not available in this version.\n")


class Sniffer:
    __slots__ = ("server", "conn", "app_allowed", "head")

    def __init__(self, server, conn, app_allowed):
        self.server = server
        self.conn = conn
        self.app_allowed = app_allowed
        self.head = b""
        conn.idle_timeout = DETECT_TIMEOUT

    def data_received(self, data):
        if self.head:
            data = self.head + bytes(data)
        if len(data) < sniffer.PEEK_SIZE:
            self.head = bytes(data)
            return
        kind = sniffer.detect(data, self.app_allowed)
        session = self.server.new_session(kind, self.conn)
        if session is None:
            return
        self.conn.protocol = session
        session.data_received(data)

    def connection_lost(self, reason):
        pass


class HttpNotAvailable:
    """Answers one HTTP request with 501 and closes, so browsers and curl see why."""
    __slots__ = ("conn",)

    def __init__(self, conn):
        self.conn = conn

    def data_received(self, data):
        log.info("HTTP request from %s answered with 501", self.conn.peer[0])
        self.conn.write(HTTP_NOT_AVAILABLE)
        self.conn.close("HTTP not available")

    def connection_lost(self, reason):
        pass
