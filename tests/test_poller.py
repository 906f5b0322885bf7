"""Both pollers report the same readiness: readable data, writable sockets, hang-ups, unregistering."""
import socket

import pytest

from blynklite.net import poller as P

POLLERS = [P.SelectorsPoller] + ([P.EpollPoller] if hasattr(P.select, "epoll") else [])


@pytest.fixture(params=POLLERS, ids=lambda cls: cls.__name__)
def poller(request):
    p = request.param()
    yield p
    p.close()


def test_readable_writable_and_modify(poller):
    a, b = socket.socketpair()
    with a, b:
        poller.register(a, P.READ, "handler-a")
        assert poller.poll(0) == []
        b.send(b"x")
        assert poller.poll(0.5) == [("handler-a", P.READ)]
        poller.modify(a, P.READ | P.WRITE)
        assert poller.poll(0.5) == [("handler-a", P.READ | P.WRITE)]
        poller.modify(a, P.WRITE)
        assert poller.poll(0.5) == [("handler-a", P.WRITE)]


def test_a_hang_up_is_reported_as_readable(poller):
    a, b = socket.socketpair()
    with a:
        poller.register(a, P.READ, "h")
        b.close()
        [(handler, events)] = poller.poll(0.5)
        assert handler == "h" and events & P.READ


def test_unregistered_sockets_are_not_reported_and_unregistering_twice_is_harmless(poller):
    a, b = socket.socketpair()
    with a, b:
        poller.register(a, P.READ, "h")
        b.send(b"x")
        poller.unregister(a)
        poller.unregister(a)
        assert poller.poll(0.1) == []
