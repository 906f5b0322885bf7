"""The first protocol of every connection: waits for 5 bytes, then hands over to the right session
(spec/framing.md §3)."""

from ..codec import sniffer
from ..logger import get_logger

log = get_logger("blynklite.net")

# A connection that has not said 5 bytes by then is dropped (TLS handshake included).
DETECT_TIMEOUT = 10


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
