"""Password and token guessing is throttled (issue: reliability §3): failed app logins, failed
hardware logins and registrations per source address, failed logins per account; a blocked attempt
is answered QUOTA_LIMIT without being checked; others are never locked out by it; repeated failures
are logged once per address per minute with a count.
"""
import time

import pytest

from blynklite.client import AppClient, password_hash
from blynklite.codec.commands import Command, Status
from blynklite.net.clock import SteppedClock
from blynklite.net.reactor import Reactor
from blynklite.sessions.binary import QUOTA_BURST_FACTOR
from blynklite.sessions import login_guard as G

from devices import PASSWORD, WAIT, RawClient, body, device, new_account

C, S = Command, Status
LIMITS = {"login.failure.limit.per.ip": 6, "login.failure.limit.per.account": 3,
          "hardware.login.failure.limit.per.ip": 4, "registration.limit.per.ip.hourly": 3,
          "login.block.seconds": 60, "login.block.max.seconds": 600}


# -- the guard on a stepped clock ----------------------------------------------------------------
@pytest.fixture
def guard():
    reactor = Reactor(SteppedClock())
    g = G.LoginGuard(LIMITS, reactor)   # the server.properties keys it reads
    yield g
    reactor.close()


def _step(guard, seconds):
    guard.reactor.clock.jump(seconds)
    guard.reactor.update_time()


def test_an_account_is_blocked_after_its_limit_and_the_block_doubles(guard):
    for _ in range(3):
        assert not guard.blocked(G.APP, "10.0.0.1", "a@b.c")
        guard.failed(G.APP, "10.0.0.1", "a@b.c", "wrong password")
    assert guard.blocked(G.APP, "10.0.0.2", "a@b.c")          # from any address
    assert not guard.blocked(G.APP, "10.0.0.2", "other@b.c")  # other accounts are untouched
    _step(guard, 61)
    assert not guard.blocked(G.APP, "10.0.0.1", "a@b.c")
    guard.failed(G.APP, "10.0.0.1", "a@b.c", "wrong password")  # one more: twice as long now
    _step(guard, 100)
    assert guard.blocked(G.APP, "10.0.0.3", "a@b.c")
    _step(guard, 21)
    assert not guard.blocked(G.APP, "10.0.0.3", "a@b.c")


def test_a_good_login_clears_the_account_but_not_the_address(guard):
    for n in range(5):
        guard.failed(G.APP, "10.0.0.9", f"user{n}@b.c" if n % 2 else "me@b.c", "wrong password")
    guard.succeeded(G.APP, "me@b.c")
    guard.failed(G.APP, "10.0.0.9", "me@b.c", "wrong password")
    assert guard.blocked(G.APP, "10.0.0.9", "someone@b.c")     # the address reached 6
    assert not guard.blocked(G.APP, "10.0.0.8", "me@b.c")      # the account is at 1 again


def test_records_are_forgotten_after_a_quiet_period(guard):
    for _ in range(2):
        guard.failed(G.APP, "10.0.0.1", "a@b.c", "wrong password")
    _step(guard, 601)
    guard.failed(G.APP, "10.0.0.1", "a@b.c", "wrong password")
    assert not guard.blocked(G.APP, "10.0.0.1", "a@b.c")
    guard.sweep()
    assert len(guard.tables[(G.APP, "account")].records) == 1


def test_ipv6_addresses_count_by_their_64(guard):
    for n in range(4):
        guard.failed(G.HARDWARE, f"2001:db8:1:2::{n + 1}", reason="invalid token")
    assert guard.blocked(G.HARDWARE, "2001:db8:1:2:ffff::1")
    assert not guard.blocked(G.HARDWARE, "2001:db8:1:3::1")
    assert G.address_key("::ffff:192.0.2.7") == "192.0.2.7"


def test_records_are_bounded(guard, monkeypatch):
    monkeypatch.setattr(G, "MAX_RECORDS", 50)
    for n in range(500):
        guard.failed(G.HARDWARE, f"10.1.{n // 250}.{n % 250}", reason="invalid token")
    assert len(guard.tables[(G.HARDWARE, "address")].records) == 50


# -- the running server ----------------------------------------------------------------------------
@pytest.fixture
def guarded(make_server):
    return make_server(**{k.replace(".", "_"): v for k, v in LIMITS.items()})


def _app_login(server, email, password):
    """(status, closed afterwards) for one LOGIN on a fresh connection."""
    with RawClient(server.host, server.app_port, tls=True, app_framing=True) as app:
        app.send(C.LOGIN, body(email, password_hash(password, email), "Android", "2.27.0", "Blynk"), 1)
        answer = app.receive()
        return answer[2], not app.is_open(timeout=1.0)


def test_wrong_passwords_are_answered_closed_then_blocked_even_when_right(guarded):
    email, bystander = new_account(guarded), new_account(guarded)
    for _ in range(3):
        assert _app_login(guarded, email, "guess") == (S.USER_NOT_AUTHENTICATED, True)
    assert _app_login(guarded, email, PASSWORD) == (S.QUOTA_LIMIT, True)   # not even checked
    assert _app_login(guarded, bystander, PASSWORD)[0] == S.OK             # another account
    log = guarded.log_text()
    assert "app login for " + email + " blocked" in log


def test_bad_device_tokens_block_the_address_but_not_a_device_elsewhere(guarded):
    email = new_account(guarded)
    with AppClient(guarded.host, guarded.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == S.OK
        _, _, token = app.new_device("Device")
    for n in range(4):
        with device(guarded) as hw:
            hw.send(C.HARDWARE_LOGIN, "X" * 32, 1)
            assert hw.wait_closed() == [(C.RESPONSE, 1, S.INVALID_TOKEN)]
    with device(guarded) as hw:   # blocked: the right token is not evaluated
        hw.send(C.HARDWARE_LOGIN, token, 1)
        assert hw.wait_closed() == [(C.RESPONSE, 1, S.QUOTA_LIMIT)]
    # Every failure after the first is summed into the next minute's line, not logged one by one.
    log = guarded.log_text()
    assert log.count("hardware login failed from 127.0.0.1") == 1


def test_registrations_per_address_are_limited(guarded):
    for n in range(3):
        new_account(guarded)
    with RawClient(guarded.host, guarded.app_port, tls=True, app_framing=True) as app:
        email = "one-too-many@example.com"
        app.send(C.REGISTER, body(email, password_hash(PASSWORD, email), "Blynk"), 1)
        assert app.wait_closed() == [(C.RESPONSE, 1, S.QUOTA_LIMIT)]


def test_the_message_quota_holds_in_a_connection_s_first_second(make_server):
    server = make_server(user_message_quota_limit=20)
    email = new_account(server)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == S.OK
        for n in range(1000):
            app.send(C.PING)
        deadline = time.monotonic() + WAIT
        answers = []
        while time.monotonic() < deadline and len(answers) < 1000:
            message = app.receive(timeout=0.5)
            if message is None:
                break
            answers.append(message[2])
    assert answers.count(S.OK) <= 20 * QUOTA_BURST_FACTOR + 1   # LOGIN was the first message
    assert S.QUOTA_LIMIT in answers
