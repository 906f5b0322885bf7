"""The WebHook widget (spec/behaviours.md §8, upstream `WebhookProcessor`): a write to the widget's pin
from a device or an app makes the server call the widget's URL; a successful answer's body goes back
to the device as `HARDWARE(888, "vw\\0<pin>\\0<body>")`.

Owns: the per-connection frequency quota (`webhooks.frequency.user.quota.limit` ms), the per-widget
failure counters (in memory only: an edit of the widget or a restart resets them, as upstream), the
`webhooks.deny.networks` check, and the HTTP(S) call itself, made on the worker pool. Never does: a
network call on the reactor thread, following a redirect (upstream does not: 302 counts as success),
calling a target whose resolved address is in a denied network.

Invariant: a webhook that fails (refused, denied, slow, too big, bad status) costs one log line and
one failure count; the call is cut off after `webhooks.timeout` ms and `webhooks.response.size.limit`
KB, so a hanging or endless target holds one worker for a bounded time and never the reactor.
"""
import ipaddress
import socket

from ..codec.body import PIN_LETTERS
from ..codec.commands import Command, MsgId
from ..logger import get_logger
from ..model import watchers as WS
from . import output

log = get_logger("blynklite.webhooks")

METHODS = ("GET", "POST", "PUT", "DELETE")             # upstream SupportedWebhookMethod
SUCCESS = frozenset((200, 201, 202, 204, 302))         # upstream isValidResponseCode
CALLING_SOURCES = frozenset((WS.DEVICE, WS.APP))       # not HTTP API writes, as upstream
READ_CHUNK = 8192
MAX_PARTS = 10                                          # /pin[0]/ ... /pin[9]/
# Upstream's statistics code for a webhook call made (Command.WEB_HOOKS, handlers/admin_stats.py).
WEB_HOOKS_STAT = 54
MAX_QUOTA_ENTRIES = 4096   # connections remembered for the quota before closed ones are dropped


class WebhookRefused(Exception):
    """The target may not be called (denied network, bad URL)."""


def validate(widget):
    """ValueError when a WebHook widget's JSON would not parse upstream."""
    url = widget.get("url")
    if url is not None and not isinstance(url, str):
        raise ValueError("url must be a string")
    method = widget.get("method")
    if method is not None and method not in METHODS:
        raise ValueError("unsupported webhook method")
    headers = widget.get("headers")
    if headers is not None:
        if not isinstance(headers, list):
            raise ValueError("headers must be a list")
        for header in headers:
            if header is not None and (not isinstance(header, dict) or not all(
                    isinstance(header.get(k), (str, type(None))) for k in ("name", "value"))):
                raise ValueError("a header is {name, value}")
    if widget.get("body") is not None and not isinstance(widget["body"], str):
        raise ValueError("body must be a string")


def parse_networks(text):
    """`webhooks.deny.networks`: comma-separated CIDRs; empty allows every address."""
    networks = []
    for part in (text or "").split(","):
        if part.strip():
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    return tuple(networks)


def format_placeholders(template, value, owner_email, now_iso):
    """Upstream `format`: first occurrences of /pin/, /pin[i]/ (when the value has that many parts),
    %s, /datetime_iso/ and device_owner_email."""
    out = template.replace("/pin/", value, 1)
    parts = value.split("\0")
    if len(parts) <= MAX_PARTS:
        for i in range(len(parts) - 1, -1, -1):
            out = out.replace(f"/pin[{i}]/", parts[i], 1)
    out = out.replace("%s", value, 1)
    out = out.replace("/datetime_iso/", now_iso, 1)
    return out.replace("device_owner_email", owner_email, 1)


def iso_instant(wall_ms):
    """Java's Instant.toString(): UTC, `Z`, milliseconds only when not zero."""
    import datetime     # here, not at the top: an idle server never loads it
    moment = datetime.datetime.fromtimestamp(wall_ms / 1000, datetime.timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{wall_ms % 1000:03d}Z" if wall_ms % 1000 else "Z")


class WebhookRequest:
    __slots__ = ("method", "url", "headers", "body", "deny", "timeout", "size_limit")

    def __init__(self, method, url, headers, body, deny, timeout, size_limit):
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.deny = deny
        self.timeout = timeout
        self.size_limit = size_limit


class WebHooks:
    def __init__(self, server):
        self.server = server
        config = server.config
        self.quota_ms = config["webhooks.frequency.user.quota.limit"]
        self.size_limit = config["webhooks.response.size.limit"] * 1024
        self.failure_limit = config["webhooks.failure.count.limit"]
        self.timeout = config["webhooks.timeout"] / 1000
        self.deny = parse_networks(config["webhooks.deny.networks"])
        self._failures = {}      # id(widget) -> (widget, consecutive failures)
        self._last_call = {}     # origin session -> reactor.now of its last webhook
        self.calls = 0

    # -- the pin index (model/watchers.py provider) -------------------------------------------------
    def watched_pins(self, user, dash):
        for widget in dash.widgets:
            if widget.get("type") == "WEBHOOK" and widget.get("pinType") in PIN_LETTERS \
                    and isinstance(widget.get("pin"), int):
                yield widget.get("deviceId") or 0, widget["pinType"], widget["pin"], self._callback(widget)

    def _callback(self, widget):
        return lambda *write: self.on_write(widget, *write)

    # -- a write to a webhook's pin (model/watchers.py arguments) -----------------------------------
    def on_write(self, widget, user, dash, device_id, pin_type, pin, value, source, origin):
        if source not in CALLING_SOURCES or self._over_quota(origin):
            return
        if self.failure_limit and self.failures(widget) >= self.failure_limit:
            return
        url = widget.get("url")
        if not url:
            return
        wall_ms = self.server.reactor.wall_ms
        now_iso = iso_instant(wall_ms)
        url = format_placeholders(url, value, user.email, now_iso)
        if not url[:4].lower() == "http":
            return
        headers, body = {}, None
        for header in widget.get("headers") or ():
            if isinstance(header, dict) and header.get("name") is not None and header.get("value") is not None:
                headers[header["name"]] = header["value"]
                if header["name"] == "Content-Type" and widget.get("body"):
                    body = format_placeholders(widget["body"], value, user.email, now_iso)
        request = WebhookRequest(widget.get("method") or "GET", url, headers, body, self.deny, self.timeout,
                                 self.size_limit)
        submitted = self.server.workers.submit(
            call, request, on_done=lambda result, error: self._answered(user, dash, device_id, widget, result, error))
        if submitted:
            self.calls += 1
            self.server.stats[WEB_HOOKS_STAT] += 1   # a call made, whatever its answer (as upstream)

    def _over_quota(self, origin):
        """Upstream's per-connection webhook frequency: the write is skipped, nothing answered."""
        now = self.server.reactor.now
        last = self._last_call.get(origin)
        if last is not None and (now - last) * 1000 < self.quota_ms:
            return True
        if len(self._last_call) >= MAX_QUOTA_ENTRIES:
            self._last_call = {o: t for o, t in self._last_call.items()
                               if o is not None and not o.conn.closed}
        self._last_call[origin] = now
        return False

    def failures(self, widget):
        entry = self._failures.get(id(widget))
        return entry[1] if entry is not None and entry[0] is widget else 0

    def _answered(self, user, dash, device_id, widget, result, error):
        if error is not None or result[0] not in SUCCESS:
            self._failures[id(widget)] = (widget, self.failures(widget) + 1)
            reason = repr(error) if error is not None else f"HTTP {result[0]}"
            log.info("webhook of %s to %s failed: %s", user.email, widget.get("url"), reason)
            return
        self._failures.pop(id(widget), None)
        status, body = result
        if body:
            text = body.decode("utf-8", "replace")
            message = output.hardware_body({"pinType": widget["pinType"], "pin": widget["pin"]}, text)
            output.to_devices(self.server, user, dash.id, [device_id], Command.HARDWARE, MsgId.EVENTOR, message)

    def forget_unused(self, live_widgets):
        live = {id(w) for w in live_widgets}
        for key in [k for k in self._failures if k not in live]:
            del self._failures[key]


# -- the call itself: runs on a worker thread, touches nothing of the model ---------------------------
def call(request):
    """(status, body bytes) of one HTTP(S) request; raises on refusal, transport errors, the time
    limit and the size limit."""
    import http.client
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(request.url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(f"not an http(s) URL: {request.url[:100]!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    deadline = time.monotonic() + request.timeout
    address = allowed_address(parts.hostname, port, request.deny)
    sock = socket.create_connection(address[:2], timeout=request.timeout)
    # Per-read timeouts do not bound a target that drips its headers a byte at a time: at the
    # deadline the socket is shut down, which ends any read in progress.
    import threading
    current = [sock]         # the TLS socket replaces the plain one (which is then detached)
    cutoff = threading.Timer(max(0.0, deadline - time.monotonic()), _shut, (current,))
    cutoff.daemon = True
    cutoff.start()
    try:
        if scheme == "https":
            import ssl
            sock = current[0] = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=request.timeout)
        connection.sock = sock
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        body = request.body.encode("utf-8") if request.body is not None else None
        connection.request(request.method, path, body=body, headers=request.headers)
        response = connection.getresponse()
        return response.status, _read_limited(response, sock, deadline, request.size_limit)
    finally:
        cutoff.cancel()
        sock.close()


def _shut(current):
    try:
        current[0].shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def allowed_address(host, port, deny):
    """The first resolved address of `host` outside every denied network (WebhookRefused if none)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for family, _, _, _, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not any(ip in network for network in deny):
            return sockaddr
    raise WebhookRefused(f"{host} resolves only to denied networks (webhooks.deny.networks)")


def _read_limited(response, sock, deadline, limit):
    import time
    chunks, size = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("webhook answer took longer than webhooks.timeout")
        sock.settimeout(left)
        chunk = response.read1(READ_CHUNK) if hasattr(response, "read1") else response.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise ValueError(f"webhook answer is larger than {limit} bytes (webhooks.response.size.limit)")
        chunks.append(chunk)
