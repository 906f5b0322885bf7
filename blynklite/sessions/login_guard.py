"""Throttling of password and token guessing: failed logins and registrations per source address,
failed logins per account (issue: reliability §3).

Owns: one record per source address (IPv6 by its /64, which one host usually has whole) and per
account, counting failures (app, share, websocket and MQTT logins, device tokens, the OTA endpoints'
Basic auth); a temporary block that doubles each time it is earned again; the log
lines about failures, at most one per address per minute with a count. Never does: answer or close
a connection (the login handlers do: QUOTA_LIMIT while blocked, the upstream status on a failure),
or keep anything on disk: a restart forgets every record.

Rules. A key that has failed `limit` times (with no gap longer than the longest block between two
failures) is blocked for `login.block.seconds`; every further failure after that block ends blocks it
again for twice as long, up to `login.block.max.seconds`. While a key is blocked an attempt is not
evaluated at all, so a correct guess cannot be told from a wrong one. A successful login clears its
account's record, never an address's: one good account must not launder an address's guesses.

Invariant: records are bounded (MAX_RECORDS per table, least recently failed dropped first) and every
decision is O(1); nothing here blocks an address or account that has not failed itself.
"""
import socket
from collections import OrderedDict

from ..logger import get_logger

log = get_logger("blynklite.login")

# Enough for every address a busy local server sees in a day, and still only a few megabytes.
MAX_RECORDS = 20_000
LOG_INTERVAL = 60.0   # repeated failures from one address are summed into one line a minute

APP, HARDWARE, REGISTER = "app login", "hardware login", "registration"
ADMIN_BASIC = "admin Basic auth"     # the OTA endpoints' `Authorization: Basic` (handlers/ota.py)
HOUR = 3600.0


class Record:
    __slots__ = ("failures", "blocks", "blocked_until", "last_failure")

    def __init__(self):
        self.failures = 0
        self.blocks = 0
        self.blocked_until = 0.0
        self.last_failure = 0.0


class Table:
    """Failure records of one kind of key, bounded, least recently failed evicted first."""

    def __init__(self, limit, block_seconds, max_block_seconds):
        self.limit = limit
        self.block_seconds = block_seconds
        self.max_block_seconds = max_block_seconds
        self.records = OrderedDict()

    def blocked(self, key, now):
        record = self.records.get(key)
        return record is not None and now < record.blocked_until

    def fail(self, key, now):
        """Count a failure; True when it starts a block."""
        if self.limit <= 0:
            return False
        record = self.records.get(key)
        if record is None or now - record.last_failure > self.max_block_seconds:
            record = Record()
            if len(self.records) >= MAX_RECORDS:
                self.records.popitem(last=False)
        self.records[key] = record
        self.records.move_to_end(key)
        record.last_failure = now
        record.failures += 1
        if record.failures < self.limit:
            return False
        record.blocks += 1
        seconds = min(self.block_seconds * 2 ** min(record.blocks - 1, 30), self.max_block_seconds)
        record.blocked_until = now + seconds
        return True

    def clear(self, key):
        self.records.pop(key, None)

    def forget_older_than(self, when):
        while self.records:
            key, record = next(iter(self.records.items()))
            if record.last_failure >= when or record.blocked_until > when:
                break
            del self.records[key]


class RegistrationWindow:
    """Registrations per address in the current hour."""

    def __init__(self, limit):
        self.limit = limit
        self.counts = {}
        self.started = 0.0

    def allowed(self, key, now):
        if now - self.started >= HOUR:
            self.counts.clear()
            self.started = now
        if self.limit <= 0:
            return True
        count = self.counts.get(key, 0)
        if count >= self.limit or len(self.counts) >= MAX_RECORDS:
            return False
        self.counts[key] = count + 1
        return True


class LoginGuard:
    def __init__(self, config, reactor):
        self.reactor = reactor
        block, longest = config["login.block.seconds"], config["login.block.max.seconds"]
        self.tables = {
            (APP, "address"): Table(config["login.failure.limit.per.ip"], block, longest),
            (APP, "account"): Table(config["login.failure.limit.per.account"], block, longest),
            (HARDWARE, "address"): Table(config["hardware.login.failure.limit.per.ip"], block, longest),
            (ADMIN_BASIC, "address"): Table(config["login.failure.limit.per.ip"], block, longest),
        }
        self.registrations = RegistrationWindow(config["registration.limit.per.ip.hourly"])
        self._unlogged = {}   # (kind, address) -> [failures not yet logged, last log time]

    # -- decisions --------------------------------------------------------------------------------
    def blocked(self, kind, ip, account=None):
        """True while the address (or, for app logins, the account) may not try at all."""
        now = self.reactor.now
        if self.tables[(kind, "address")].blocked(address_key(ip), now):
            return True
        return account is not None and (kind, "account") in self.tables and \
            self.tables[(kind, "account")].blocked(account, now)

    def failed(self, kind, ip, account=None, reason=""):
        now = self.reactor.now
        address = address_key(ip)
        started = self.tables[(kind, "address")].fail(address, now)
        if account is not None and (kind, "account") in self.tables:
            if self.tables[(kind, "account")].fail(account, now):
                log.warning("%s for %s blocked after repeated failures", kind, account)
        if started:
            log.warning("%s from %s blocked after repeated failures", kind, address)
        self._log_failure(kind, address, reason, now)

    def succeeded(self, kind, account):
        table = self.tables.get((kind, "account"))
        if table is not None:
            table.clear(account)

    def registration_allowed(self, ip):
        allowed = self.registrations.allowed(address_key(ip), self.reactor.now)
        if not allowed:
            self._log_failure(REGISTER, address_key(ip), "hourly limit per address reached", self.reactor.now)
        return allowed

    # -- log lines and housekeeping ---------------------------------------------------------------
    def _log_failure(self, kind, address, reason, now):
        entry = self._unlogged.get((kind, address))
        if entry is None or now - entry[1] >= LOG_INTERVAL:
            more = entry[0] if entry else 0
            suffix = f" ({more} more since the last line)" if more else ""
            log.info("%s failed from %s: %s%s", kind, address, reason, suffix)
            if len(self._unlogged) < MAX_RECORDS or entry is not None:
                self._unlogged[(kind, address)] = [0, now]
            return
        entry[0] += 1

    def sweep(self):
        """Every minute: say how many failures each address had since its last line; drop old records."""
        now = self.reactor.now
        for (kind, address), entry in list(self._unlogged.items()):
            if now - entry[1] < LOG_INTERVAL:
                continue
            if entry[0]:
                log.info("%s failed from %s %d more times in the last minute", kind, address, entry[0])
                entry[0], entry[1] = 0, now
            else:
                del self._unlogged[(kind, address)]
        for table in self.tables.values():
            table.forget_older_than(now - table.max_block_seconds)


def address_key(ip):
    """An IPv4 address as it is; an IPv6 one by its /64 (IPv4-mapped ones as IPv4)."""
    if ":" not in ip:
        return ip
    if ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    try:
        packed = socket.inet_pton(socket.AF_INET6, ip.split("%", 1)[0])
    except OSError:
        return ip
    return socket.inet_ntop(socket.AF_INET6, packed[:8] + bytes(8)) + "/64"
