"""Real peers for notification tests: an SMTP server (aiosmtpd) and an HTTP server that records every
request and answers what the test tells it to. Both listen on 127.0.0.1 ephemeral ports."""
import email
import email.policy
import http.server
import json
import queue
import ssl
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from blynklite import selfsigned
from conftest import free_ports

WAIT = 5.0


class MailBox:
    """aiosmtpd handler: every delivered message, parsed, in a queue."""

    def __init__(self, delay=0.0):
        self.messages = queue.Queue()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            import asyncio
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.put((envelope.mail_from, envelope.rcpt_tos, message))
        return "250 OK"

    def next(self, timeout=WAIT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None


def tls_pair(folder):
    cert, key = selfsigned.generate(str(folder), ["localhost"], ["127.0.0.1"], days=2)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


class SmtpServer:
    """mode: "plain", "starttls" (STARTTLS offered and required) or "tls" (implicit TLS)."""

    def __init__(self, folder, mode="plain", users=None, delay=0.0):
        self.mailbox = MailBox(delay)
        self.port = free_ports(1)[0]
        self.cafile = None
        kwargs = {}
        if mode != "plain":
            context, self.cafile = tls_pair(folder)
            if mode == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context, server_hostname="localhost")
        if users is not None:
            # aiosmtpd advertises AUTH over TLS only after STARTTLS; an implicit-TLS session is TLS too.
            kwargs.update(authenticator=self._authenticator(users), auth_required=True,
                          auth_require_tls=mode == "starttls")
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **kwargs)

    @staticmethod
    def _authenticator(users):
        def check(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and users.get(data.login.decode()) == data.password.decode()
            return AuthResult(success=ok, handled=False)   # handled=False: aiosmtpd sends the 535
        return check

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class Recorder(http.server.ThreadingHTTPServer):
    """Records (method, path, headers, body) of every request; answers with `self.replies` in order,
    the last one repeated (default 200 `{}`)."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.requests = queue.Queue()
        self.replies = [(200, "application/json", b"{}")]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next(self, timeout=WAIT):
        try:
            return self.requests.get(timeout=timeout)
        except queue.Empty:
            return None

    def reply_for(self, index):
        return self.replies[min(index, len(self.replies) - 1)]

    def __enter__(self):
        self.count = 0
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        recorder = self.server
        status, content_type, answer = recorder.reply_for(recorder.count)
        recorder.count += 1
        recorder.requests.put((self.command, self.path, dict(self.headers), body))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def json_reply(value, status=200):
    return status, "application/json", json.dumps(value).encode()


def wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
