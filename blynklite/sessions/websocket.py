"""Blynk over websockets (spec/framing.md §4): devices on `/websockets`, apps on `/dashws`.

Owns: the upgrade from an HTTP connection, websocket control frames (ping, close), and the
`WebSocketLink` that a Blynk session uses as its connection, so HardwareSession and AppSession run
unchanged over websockets. Never does: Blynk command handling.

Invariant: every Blynk message leaves in its own binary websocket frame (the node-red and browser
clients take one message per frame); incoming binary payloads go to the session's own decoder.
"""

from ..codec import frames
from ..codec.commands import Command
from ..codec.http import HttpError
from ..codec.websocket import (Close, FrameDecoder, Message, Ping, WebSocketError, binary_frame,
                              close_frame, handshake_response, pong_frame)
from ..handlers.app import AppSession, get_server, login
from ..handlers.hardware import HardwareSession
from ..logger import get_logger
from ..net.connection import LOGIN_TIMEOUT

log = get_logger("blynklite.websocket")

HARDWARE_PATHS = ("/websockets", "/websocket")
MAX_MESSAGE = 65536   # upstream's (Netty's) default websocket frame limit
# Before login a websocket message holds one small login frame (frames.PRE_LOGIN_MAX_BODY).
PRE_LOGIN_MAX_MESSAGE = frames.PRE_LOGIN_MAX_BODY + frames.APP_HEADER.size
# Upstream's statistics code for a websocket message (Command.WEB_SOCKETS, handlers/admin_stats.py):
# counted per data message, text or binary, as upstream's WSHandler; control frames are not messages.
WEB_SOCKETS = 52


def upgrade(http_session, request, app):
    """Answer the handshake and hand the connection to a websocket transport with a Blynk session."""
    if not app and not hardware_path(request.path):
        raise HttpError(404, "websocket path must be /websockets")
    conn = http_session.conn
    conn.write(handshake_response(request))
    link = WebSocketLink(conn, split_hardware=not app)
    server = http_session.server
    if app:
        session = WebSocketAppSession(server, link, frames.DashWsDecoder(frames.PRE_LOGIN_MAX_BODY),
                                      frames.DASHWS)
    else:
        session = HardwareSession(server, link)
        if http_session.secure:   # upstream drops the x2.3 factor on the TLS port (framing.md §6)
            link.idle_timeout = server.config["hard.socket.idle.timeout"]
    transport = WebSocketTransport(conn, session)
    link.ws_decoder = transport.decoder
    conn.deadline = server.reactor.now + LOGIN_TIMEOUT   # the upgrade is no login
    conn.protocol = transport
    log.info("%s websocket from %s", "app" if app else "hardware", conn.peer[0])
    leftover = http_session.parser.take_unparsed()
    if leftover:
        transport.data_received(leftover)


def hardware_path(path):
    """`/websockets`, `/websockets/…` (upstream's prefix match), and the older `/websocket`."""
    return path.rstrip("/") in HARDWARE_PATHS or path.startswith("/websockets/")


class WebSocketAppSession(AppSession):
    """Apps on /dashws may only ask for a server or log in before login (framing.md §4.2)."""
    __slots__ = ()
    pre_login = {Command.GET_SERVER: get_server, Command.LOGIN: login}


class WebSocketTransport:
    """The connection's protocol after the upgrade: websocket frames in, Blynk payloads to the session."""
    __slots__ = ("conn", "session", "decoder")

    def __init__(self, conn, session):
        self.conn = conn
        self.session = session
        self.decoder = FrameDecoder(max_message_size=PRE_LOGIN_MAX_MESSAGE)

    def data_received(self, data):
        conn = self.conn
        try:
            for event in self.decoder.feed(data):
                if conn.closed:
                    return
                if isinstance(event, Message):
                    self.session.stats[WEB_SOCKETS] += 1
                    if event.binary:   # text frames are ignored, as upstream
                        self.session.data_received(event.payload)
                elif isinstance(event, Ping):
                    conn.write(pong_frame(event.payload))
                elif isinstance(event, Close):
                    conn.write(close_frame(event.code or 1000))
                    conn.close("websocket closed by peer")
                    return
        except WebSocketError as error:
            log.info("websocket from %s: %s; closing", conn.peer[0], error)
            conn.write(close_frame(error.close_code, str(error)[:100]))
            conn.close(f"websocket error {error.close_code}")

    def connection_lost(self, reason):
        self.session.connection_lost(reason)


class WebSocketLink:
    """What a Blynk session sees as its connection: every message leaves as a binary frame."""
    __slots__ = ("conn", "split_hardware", "ws_decoder")

    def __init__(self, conn, split_hardware):
        self.conn = conn
        self.split_hardware = split_hardware
        self.ws_decoder = None

    def authenticated(self):
        self.ws_decoder.max_message_size = MAX_MESSAGE
        self.conn.authenticated()

    def write(self, data):
        if self.split_hardware:
            for message in hardware_messages(data):
                self.conn.write(binary_frame(message))
        else:
            self.conn.write(binary_frame(data))

    def close(self, reason=None):
        self.conn.write(close_frame(1000))
        self.conn.close(reason)

    def abort(self, reason=None):
        self.conn.abort(reason)

    @property
    def peer(self):
        return self.conn.peer

    @property
    def closed(self):
        return self.conn.closed

    @property
    def writable(self):
        return self.conn.writable

    @property
    def idle_timeout(self):
        return self.conn.idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds):
        self.conn.idle_timeout = seconds

    @property
    def coalesce(self):
        return self.conn.coalesce

    @coalesce.setter
    def coalesce(self, value):
        self.conn.coalesce = value


def hardware_messages(data):
    """Split bytes holding whole hardware frames into one bytes object per frame."""
    header = frames.HARDWARE_HEADER
    if len(data) == header.size + _body_length(data, 0):
        return (data,)
    out, start = [], 0
    while start < len(data):
        stop = start + header.size + _body_length(data, start)
        out.append(data[start:stop])
        start = stop
    return out


def _body_length(data, start):
    command, _, size = frames.HARDWARE_HEADER.unpack_from(data, start)
    return 0 if command == Command.RESPONSE else size
