"""One non-blocking TCP connection: reads into the reactor's buffer, bounded output, orderly close.

Owns: the socket, its poller registration, the output queue and the TLS layer (if any).
Never does: parsing. Bytes in go to `protocol.data_received(view)`; `protocol.connection_lost()`
is called exactly once, whatever ends the connection.

Output. `write()` either tries the socket at once (`coalesce=False`, so each frame leaves in one
send, as the device libraries expect) or collects the writes of one reactor round and sends them
together at the end of it (`coalesce=True`, apps: many forwarded frames, one syscall). Bytes the
kernel does not take wait in `_out`; above HIGH_WATER the peer counts as not writable (callers
drop forwarded traffic to it) and we stop reading from it; above HARD_LIMIT it is dropped.

Invariant: `_out` holds wire bytes (already encrypted); `_pending` holds plaintext not yet flushed.
"""
import errno
import socket
import ssl

from .poller import READ as _READ
from .poller import WRITE as _WRITE
from .tls import TLSClosed, TLSLayer, TLSUnavailable
from ..logger import get_logger

log = get_logger("blynklite.net")

# From accept until a login (or a whole HTTP request): an ESP8266 needs up to about 5 s for a TLS
# handshake and every Blynk library logs in with its first frame, so a peer not done by then is
# holding a slot open (a byte every few seconds would otherwise keep it forever).
LOGIN_TIMEOUT = 15.0
HIGH_WATER = 64 * 1024   # Netty's default write-buffer high-water mark, which upstream honours
LOW_WATER = 32 * 1024
HARD_LIMIT = 1024 * 1024

_AGAIN = (BlockingIOError, InterruptedError)


class Connection:
    __slots__ = ("reactor", "sock", "peer", "port_kind", "protocol", "tls", "coalesce",
                 "idle_timeout", "last_read", "deadline", "closed", "_pending", "_dirty", "_out", "_out_size",
                 "_events", "_closing", "_paused", "__weakref__")

    def __init__(self, reactor, sock, peer, port_kind, tls_source=None):
        self.reactor = reactor
        self.sock = sock
        self.peer = peer
        self.port_kind = port_kind
        self.protocol = None
        self.tls = TLSLayer(tls_source) if tls_source is not None else None
        self.coalesce = False
        self.idle_timeout = 0
        self.last_read = reactor.now
        # Reactor time by which the peer must have logged in (0: no deadline); see LOGIN_TIMEOUT.
        self.deadline = reactor.now + LOGIN_TIMEOUT
        self.closed = False
        self._pending = []
        self._dirty = False
        self._out = []
        self._out_size = 0
        self._events = _READ
        self._closing = False
        self._paused = False
        reactor.poller.register(sock, _READ, self)

    def __repr__(self):
        return f"<Connection {self.peer[0]}:{self.peer[1]} {type(self.protocol).__name__}>"

    # -- input ------------------------------------------------------------------------------------
    def on_readable(self):
        reactor = self.reactor
        try:
            count = self.sock.recv_into(reactor.read_buffer)
        except _AGAIN:
            return
        except OSError as error:
            self.abort(f"read failed: {error.strerror or error}")
            return
        if not count:
            self._peer_closed()
            return
        self.last_read = reactor.now
        data = reactor.read_view[:count]
        if self.tls is None:
            self.protocol.data_received(data)
            return
        try:
            self.tls.receive(data, reactor.plain_buffer, self._deliver_plaintext)
        except TLSClosed:
            self._peer_closed()
            return
        except ssl.SSLError as error:
            self.abort(f"TLS error: {error.reason or error}")
            return
        except TLSUnavailable as error:
            log.error("TLS: %s; closing the connection from %s", error, self.peer[0])
            self.abort("no usable certificate")
            return
        finally:
            data.release()
        self._send_tls_output()

    def _deliver_plaintext(self, view):
        if not self.closed:
            self.protocol.data_received(view)

    def _peer_closed(self):
        self._pending.clear()
        self._finish("closed by peer")

    def authenticated(self):
        """The peer logged in: from now on only the idle timeout applies."""
        self.deadline = 0

    # -- output -----------------------------------------------------------------------------------
    @property
    def writable(self):
        return not self.closed and self._out_size < HIGH_WATER

    def write(self, data):
        if self.closed or self._closing:
            return
        if self.coalesce:
            self._pending.append(data)
            if not self._dirty:
                self._dirty = True
                self.reactor.mark_dirty(self)
        elif self.tls is None:
            self._send(data)
        else:
            self.tls.encrypt(data)
            self._send_tls_output()

    def flush(self):
        """End of a reactor round: send what `write()` collected."""
        self._dirty = False
        if not self._pending or self.closed:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if self.tls is None:
            self._send(data)
        else:
            self.tls.encrypt(data)
            self._send_tls_output()

    def _send_tls_output(self):
        wire = self.tls.take_output()
        if wire:
            self._send(wire)

    def _send(self, data):
        if self.closed:
            return
        if self._out:
            self._queue(data)
            return
        sent = self._try_send(data)
        if sent is not None and sent < len(data):
            self._queue(memoryview(data)[sent:])

    def _try_send(self, data):
        """Bytes the kernel took (0 when it would block), or None after a fatal error closed us."""
        try:
            return self.sock.send(data)
        except _AGAIN:
            return 0
        except OSError as error:
            self.abort(f"write failed: {error.strerror or error}")
            return None

    def _queue(self, data):
        self._out.append(data)
        self._out_size += len(data)
        if self._out_size > HARD_LIMIT:
            self.abort("peer is not reading (output queue over limit)")
            return
        events = _WRITE if self._out_size >= HIGH_WATER else _READ | _WRITE
        self._paused = events == _WRITE
        self._set_events(events)

    def on_writable(self):
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        self._out_size = 0
        sent = self._try_send(data)
        if sent is None:
            return
        if sent < len(data):
            rest = memoryview(data)[sent:]
            self._out.append(rest)
            self._out_size = len(rest)
            if self._paused and self._out_size < LOW_WATER:
                self._paused = False
                self._set_events(_READ | _WRITE)
            return
        if self._closing:
            self._finish(None)
            return
        self._paused = False
        self._set_events(_READ)

    def _set_events(self, events):
        if events != self._events and not self.closed:
            self._events = events
            self.reactor.poller.modify(self.sock, events)

    # -- closing ----------------------------------------------------------------------------------
    def close(self, reason=None):
        """Orderly close: send what is queued (and close_notify), then close the socket."""
        if self.closed or self._closing:
            return
        self.flush()
        if self.tls is not None and self.tls.handshake_done:
            self.tls.close_notify()
            self._send_tls_output()
        if self.closed:
            return
        self._closing = True
        self._notify_lost(reason)
        if not self._out:
            self._finish(None)

    def abort(self, reason=None):
        """Close at once, dropping queued output."""
        if not self.closed:
            self._pending.clear()
            self._out.clear()
            self._finish(reason)

    def _finish(self, reason):
        if self.closed:
            return
        self.closed = True
        self.reactor.poller.unregister(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass
        self._notify_lost(reason)

    def _notify_lost(self, reason):
        protocol, self.protocol = self.protocol, _CLOSED
        if protocol is not _CLOSED and protocol is not None:
            protocol.connection_lost(reason)


class _ClosedProtocol:
    """Stands in for the protocol after connection_lost, so late bytes go nowhere."""

    def data_received(self, data):
        pass

    def connection_lost(self, reason):
        pass


_CLOSED = _ClosedProtocol()


def configure_socket(sock):
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
