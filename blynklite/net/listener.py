"""Listening sockets: accept without blocking and hand each new socket to the server."""
import socket

from .connection import configure_socket
from .poller import READ
from ..logger import get_logger

log = get_logger("blynklite.net")

ACCEPTS_PER_EVENT = 64
BACKLOG = 1024


class Listener:
    def __init__(self, reactor, address, port, port_kind, on_accept):
        self.reactor = reactor
        self.port_kind = port_kind
        self.on_accept = on_accept
        self.sock = _bind(address, port)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        reactor.poller.register(self.sock, READ, self)

    def on_readable(self):
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                sock, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # EMFILE and friends: log, keep serving the others
                log.error("accept on port %s failed: %s", self.port, error)
                return
            try:
                configure_socket(sock)
            except OSError:
                sock.close()
                continue
            self.on_accept(sock, peer, self.port_kind)

    def on_writable(self):
        pass

    def close(self):
        self.reactor.poller.unregister(self.sock)
        self.sock.close()


def _bind(address, port):
    if address:
        return socket.create_server((address, port), backlog=BACKLOG, reuse_port=False)
    if socket.has_dualstack_ipv6():
        return socket.create_server(("::", port), family=socket.AF_INET6, backlog=BACKLOG,
                                    dualstack_ipv6=True)
    return socket.create_server(("0.0.0.0", port), backlog=BACKLOG)
