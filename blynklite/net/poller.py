"""Readiness polling for the reactor: which sockets can be read or written now.

Owns: the registration of sockets with their handlers and one `poll(timeout)` call per reactor
round. On Linux it drives `select.epoll` itself; elsewhere it wraps `selectors.DefaultSelector`.
Why not `selectors` everywhere: its `select()` builds a SelectorKey list in Python on every round,
about 0.6 µs a round on this machine, and at 5,000 device messages a second a round is often one
message, so that is 5 % of the whole forwarding cost.

Invariant: `poll()` returns (handler, events) pairs with events a mix of READ and WRITE only; an
error or hang-up reports both, so the handler's own read or write finds out what happened.
"""
import select
import selectors

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


class EpollPoller:
    __slots__ = ("_epoll", "_handlers")

    def __init__(self):
        self._epoll = select.epoll()
        self._handlers = {}

    @staticmethod
    def _mask(events):
        return (select.EPOLLIN if events & READ else 0) | (select.EPOLLOUT if events & WRITE else 0)

    def register(self, sock, events, handler):
        fd = sock.fileno()
        self._epoll.register(fd, self._mask(events))
        self._handlers[fd] = handler

    def modify(self, sock, events):
        self._epoll.modify(sock.fileno(), self._mask(events))

    def unregister(self, sock):
        fd = sock.fileno()
        if self._handlers.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def poll(self, timeout):
        handlers = self._handlers
        ready = []
        for fd, events in self._epoll.poll(-1 if timeout is None else timeout):
            handler = handlers.get(fd)
            if handler is not None:
                ready.append((handler, _EPOLL_TO_EVENTS[events & _RELEVANT] if events & _RELEVANT else 0))
        return ready

    def close(self):
        self._epoll.close()
        self._handlers.clear()


class SelectorsPoller:
    """The portable fallback, for systems without epoll."""
    __slots__ = ("_selector",)

    def __init__(self):
        self._selector = selectors.DefaultSelector()

    def register(self, sock, events, handler):
        self._selector.register(sock, events, handler)

    def modify(self, sock, events):
        self._selector.modify(sock, events, self._selector.get_key(sock).data)

    def unregister(self, sock):
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def poll(self, timeout):
        return [(key.data, events) for key, events in self._selector.select(timeout)]

    def close(self):
        self._selector.close()


if hasattr(select, "epoll"):
    _RELEVANT = select.EPOLLIN | select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP
    # Every combination of the relevant epoll bits, mapped once to READ/WRITE.
    _EPOLL_TO_EVENTS = {}
    for _bits in range(_RELEVANT + 1):
        if _bits & ~_RELEVANT:
            continue
        _events = 0
        if _bits & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
            _events |= READ
        if _bits & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP):
            _events |= WRITE
        _EPOLL_TO_EVENTS[_bits] = _events
    Poller = EpollPoller
else:
    Poller = SelectorsPoller
