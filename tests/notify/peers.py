"""Real peers for the sender tests, all on 127.0.0.1: an SMTP server (aiosmtpd, in its own thread) in
plain, STARTTLS or implicit-TLS mode with optional AUTH, a TCP listener that never answers, an HTTP
server that records every request and answers what the test queued, and a throwaway CA with a
server certificate made with `cryptography`."""
import datetime
import email
import email.policy
import http.server
import ipaddress
import json
import queue
import socket
import ssl
import threading

WAIT = 5.0          # seconds any test waits for a peer to see something


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- certificates -------------------------------------------------------------------------------------
class TestCA:
    """A CA certificate (written to `cafile`) that signs server certificates for given names."""
    __test__ = False     # a helper, not a test class

    def __init__(self, folder):
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "blynklite test CA")])
        builder = self._builder(name, name, self.key.public_key())
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        self.cert = self._sign(builder)
        self.cafile = self._write("ca.pem", self._pem(self.cert))

    @staticmethod
    def _builder(subject, issuer, public_key):
        from cryptography import x509
        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))

    def _sign(self, builder):
        from cryptography.hazmat.primitives import hashes
        return builder.sign(self.key, hashes.SHA256())

    @staticmethod
    def _pem(cert):
        from cryptography.hazmat.primitives import serialization
        return cert.public_bytes(serialization.Encoding.PEM)

    def _write(self, name, data):
        path = self.folder / name
        path.write_bytes(data)
        return str(path)

    def server_context(self, dns=("localhost",), ips=("127.0.0.1",)):
        """An ssl server context with a fresh certificate for these names, signed by this CA."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (dns or ips)[0])])
        builder = self._builder(subject, self.cert.subject, key.public_key())
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                        critical=False)
        label = "-".join(dns + ips)
        cert = self._write(f"{label}.pem", self._pem(self._sign(builder)))
        keyfile = self._write(f"{label}.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, keyfile)
        return context


# -- SMTP ---------------------------------------------------------------------------------------------
class MailBox:
    """aiosmtpd handler: every delivered message, parsed, in a queue. Refuses recipients starting
    with `nobody@`; waits `delay` seconds before answering DATA."""

    # A new account of the Blynk app gets upstream's welcome mail; tests about other mails skip it
    # (a test about the welcome mail empties this set).
    SKIPPED_SUBJECTS = frozenset(("Get started with Blynk",))

    def __init__(self, delay=0.0):
        self.messages = queue.Queue()
        self.delay = delay
        self.skipped_subjects = set(self.SKIPPED_SUBJECTS)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            import asyncio
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if message["Subject"] in self.skipped_subjects:
            return "250 OK"
        self.messages.put((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def next(self, timeout=WAIT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None


class SmtpServer:
    """mode: "plain", "starttls" (offered and required before MAIL) or "tls" (implicit TLS).
    `users` (login → password) turns AUTH on and requires it (after STARTTLS in that mode)."""

    def __init__(self, mode="plain", tls=None, users=None, delay=0.0):
        from aiosmtpd.controller import Controller
        self.mailbox = MailBox(delay)
        self.port = free_port()
        kwargs = {}
        if mode == "starttls":
            kwargs.update(tls_context=tls, require_starttls=True)
        elif mode == "tls":
            kwargs.update(ssl_context=tls)
        if users is not None:
            kwargs.update(authenticator=_authenticator(users), auth_required=True,
                          auth_require_tls=mode == "starttls")   # aiosmtpd counts only STARTTLS as TLS
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port,
                                     ready_timeout=WAIT, **kwargs)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def _authenticator(users):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and users.get(data.login.decode()) == data.password.decode()
        return AuthResult(success=ok, handled=False)
    return check


class SilentServer:
    """Accepts TCP connections (the kernel does, from the backlog) and never says a word."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        return self

    def __exit__(self, *exc):
        self.sock.close()


# -- HTTP ---------------------------------------------------------------------------------------------
class Request:
    __slots__ = ("method", "path", "headers", "body")

    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def json(self):
        return json.loads(self.body)


class Recorder(http.server.ThreadingHTTPServer):
    """Records every request; answers with the replies queued for its path (exact match), then with
    the path's last reply again, or 200 `{}` for a path with none."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.requests = queue.Queue()
        self.replies = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reply(self, path, status, body, content_type="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.replies.setdefault(path, []).append((status, content_type, body))

    def answer_for(self, path):
        with self.lock:
            queued = self.replies.get(path.split("?")[0])
            if not queued:
                return 200, "application/json", b"{}"
            return queued.pop(0) if len(queued) > 1 else queued[0]

    def next(self, timeout=WAIT):
        try:
            return self.requests.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no request reached the recorder within {timeout} s") from None

    def all(self):
        seen = []
        while not self.requests.empty():
            seen.append(self.requests.get_nowait())
        return seen

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.put(Request(self.command, self.path, self.headers, body))
        status, content_type, answer = self.server.answer_for(self.path)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass
