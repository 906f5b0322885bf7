"""What every binary Blynk connection shares: decoding, the message-rate quota, replies, closing.

A session is the protocol object of one connection (`connection.protocol`). Subclasses give the
framing and a handler table `command → function(session, msg_id, body)`; a handler raising
`StatusError` is answered with that status, any other error is logged and gets no reply, as
upstream does (spec/commands.md §2.1).
"""
import math

from ..codec.commands import Command, Status, StatusError, command_name
from ..codec.frames import ProtocolError
from ..logger import get_logger

log = get_logger("blynklite.session")

QUOTA_WARNING_INTERVAL = 60.0
# The quota is a one-minute average, which lets a burst through until the average catches up (and a
# new connection, with no average yet, through its whole first second): within any one second a
# connection may send at most this many times the quota. An app's login burst fits easily.
QUOTA_BURST_FACTOR = 10
_ALPHA = 1 - math.exp(-1 / 60)   # the one-minute EWMA, ticked every second


class RateMeter:
    """Messages per second as a one-minute EWMA, ticked lazily when a message arrives."""
    __slots__ = ("count", "rate", "next_tick", "started")

    def __init__(self, now):
        self.count = 0
        self.rate = 0.0
        self.next_tick = now + 1.0
        self.started = False

    def current(self, now):
        if now >= self.next_tick:
            self._tick(now)
        return self.rate

    def _tick(self, now):
        ticks = int(now - self.next_tick) + 1
        self.next_tick += ticks
        if self.started:
            self.rate += _ALPHA * (self.count - self.rate)
        else:
            self.rate = float(self.count)
            self.started = True
        if ticks > 1:
            self.rate *= (1 - _ALPHA) ** (ticks - 1)
        self.count = 0


class BinarySession:
    __slots__ = ("server", "conn", "decoder", "framing", "meter", "quota_limit", "burst_cap",
                 "_quota_warned_at", "stats")
    handlers = {}

    def __init__(self, server, conn, decoder, framing):
        self.server = server
        self.conn = conn
        self.decoder = decoder
        self.framing = framing
        self.meter = RateMeter(server.reactor.now)
        self.quota_limit = server.config["user.message.quota.limit"]
        self.burst_cap = self.quota_limit * QUOTA_BURST_FACTOR
        self._quota_warned_at = -QUOTA_WARNING_INTERVAL
        self.stats = server.stats

    def data_received(self, data):
        conn = self.conn
        meter = self.meter
        stats = self.stats
        handle = self.handle
        try:
            for command, msg_id, size, body in self.decoder.feed(data):
                if conn.closed:
                    return
                # Inline fast case of the quota check: within the current second and under the limit.
                if meter.count >= self.burst_cap or meter.rate > self.quota_limit or \
                        self.server.reactor.now >= meter.next_tick:
                    if self._over_quota(msg_id):
                        continue
                else:
                    meter.count += 1
                stats[command] += 1
                handle(command, msg_id, size, body)
        except ProtocolError as error:
            log.info("%s: %s; closing", self.describe(), error)
            conn.abort(str(error))

    def _over_quota(self, msg_id):
        meter = self.meter
        now = self.server.reactor.now
        if meter.current(now) > self.quota_limit or meter.count >= self.burst_cap:
            if now - self._quota_warned_at >= QUOTA_WARNING_INTERVAL:
                self._quota_warned_at = now
                log.warning("%s exceeds %s messages/s; dropping", self.describe(), self.quota_limit)
                self.respond(msg_id, Status.QUOTA_LIMIT)
            return True
        meter.count += 1
        return False

    def logged_in(self):
        """Login succeeded: frames of any size the protocol allows, and no login deadline."""
        self.decoder.limit_body(self.MAX_BODY)
        self.conn.authenticated()

    def handle(self, command, msg_id, size, body):
        handler = self.handlers.get(command)
        if handler is None:
            self.unknown_command(command, msg_id)
            return
        self.run_handler(handler, msg_id, str(body, "utf-8", "replace"))

    def run_handler(self, handler, msg_id, text):
        try:
            handler(self, msg_id, text)
        except StatusError as error:
            log.debug("%s: %s -> status %s", self.describe(), handler.__name__, error.status)
            self.respond(msg_id, error.status)
        except Exception:
            log.exception("%s: %s failed", self.describe(), handler.__name__)

    def unknown_command(self, command, msg_id):
        log.debug("%s: ignoring %s", self.describe(), command_name(command))

    # -- output -----------------------------------------------------------------------------------
    def send(self, command, msg_id, body=b""):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.conn.write(self.framing.message(command, msg_id, body))

    def respond(self, msg_id, status):
        self.conn.write(self.framing.response(msg_id, status))

    def ok(self, msg_id):
        self.respond(msg_id, Status.OK)

    def close(self, reason=None):
        self.conn.close(reason)

    def refuse(self, msg_id, status, reason):
        """A refused login or registration: the status, then the connection is closed."""
        self.respond(msg_id, status)
        self.close(reason)

    def describe(self):
        return f"{self.conn.peer[0]}"

    def connection_lost(self, reason):
        pass


def ping(session, msg_id, body):
    session.ok(msg_id)


PING_HANDLER = {Command.PING: ping}
