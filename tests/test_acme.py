"""Let's Encrypt against the real ACME test server Pebble (spec/behaviours.md §6): real http-01
validation of blynklite's plain port, the issued certificate then served on the TLS port without a
restart; and each failure a user meets (IP address, unresolvable name, port 80 not reachable, rate
limit, ACME server down) said clearly while the server keeps serving with the certificate it has."""
import datetime
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import ROOT, free_ports

x509 = pytest.importorskip("cryptography.x509", reason="cryptography is the tls extra")
PEBBLE = shutil.which("pebble")
pytestmark = pytest.mark.skipif(PEBBLE is None, reason="Debian package pebble is not installed (.ci/run installs it)")

WAIT = 60.0            # a whole ACME run against Pebble without sleeps takes a few seconds
EMAIL = "owner@example.com"


# -- a CA and a certificate for Pebble's own HTTPS listener ---------------------------------------------
def make_ca_and_cert(folder):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "blynklite test ACME CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(folder, name) for name in ("ca.pem", "cert.pem", "key.pem")}
    pem = serialization.Encoding.PEM
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(paths["cert.pem"], "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(paths["key.pem"], "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


class Pebble:
    """Pebble on loopback; its validation authority connects to `http_port` for http-01."""

    def __init__(self, folder, http_port, env=None):
        os.makedirs(folder, exist_ok=True)
        self.files = make_ca_and_cert(folder)
        self.port, self.management_port, tls_port = free_ports(3)
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}", "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": self.files["cert.pem"], "privateKey": self.files["key.pem"],
            "httpPort": http_port, "tlsPort": tls_port, "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        config_path = os.path.join(folder, "pebble-config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        self.log_path = os.path.join(folder, "pebble.log")
        self.log = open(self.log_path, "wb")
        environment = dict(os.environ, PEBBLE_VA_NOSLEEP="1", **(env or {}))
        self.process = subprocess.Popen([PEBBLE, "-config", config_path, "-strict"], stdout=self.log,
                                        stderr=subprocess.STDOUT, env=environment, cwd=folder)
        self.directory = f"https://127.0.0.1:{self.port}/dir"
        self.context = ssl.create_default_context(cafile=self.files["ca.pem"])
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(self.directory, timeout=2, context=self.context).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("pebble did not start:\n" + open(self.log_path).read())
                time.sleep(0.1)

    def root_pem(self):
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        return urllib.request.urlopen(url, timeout=5, context=self.context).read()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()


def acme_properties(directory, ca_file, host="localhost", **extra):
    properties = {"server.host": host, "contact.email": EMAIL, "acme.directory.url": directory,
                  "acme.ca.file": ca_file}
    properties.update(extra)
    return properties


def start_server(make_server, http_port, properties):
    """make_server with a fixed plain port (Pebble must know it before the server starts)."""
    return make_server(**{"http.port": http_port, **properties})


def wait_for_log(server, text, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log_text()
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log within {timeout} s:\n{server.log_text()[-3000:]}")


def served_certificate(server, cafile=None, hostname=None):
    """The TLS port's certificate (DER), verified against `cafile` for `hostname` when given."""
    if cafile:
        context = ssl.create_default_context(cafile=cafile)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((server.host, server.app_port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=hostname or "localhost") as tls:
            return tls.getpeercert(binary_form=True)


def plain_port_answers(server):
    """The server keeps serving: its plain port still answers HTTP."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.properties['http.port']}/favicon.ico", timeout=5) as response:
        return response.status == 200


def console_has(server, text, timeout=10.0):
    """Whether the server printed a line with `text` on its console (read on a thread: every wait bounded)."""
    found = threading.Event()

    def read():
        for line in iter(server.process.stdout.readline, ""):
            if text in line:
                found.set()
                return
    threading.Thread(target=read, daemon=True).start()
    return found.wait(timeout)


# -- the main path ----------------------------------------------------------------------------------------
@pytest.fixture
def plain_port():
    return free_ports(1)[0]


@pytest.fixture
def pebble(tmp_path, plain_port):
    running = Pebble(str(tmp_path / "pebble"), plain_port)
    yield running
    running.stop()


def test_certificate_from_pebble_by_http01_on_the_plain_port_is_served_without_restart(make_server, pebble,
                                                                                       plain_port):
    server = start_server(make_server, plain_port, acme_properties(pebble.directory, pebble.files["ca.pem"]))
    self_signed = served_certificate(server)
    log = wait_for_log(server, "new certificate for localhost in use")
    assert "GET /.well-known/acme-challenge/" in log and "-> 200" in log.split("GET /.well-known/acme-challenge/")[1]
    for name in ("user.pem", "privkey.pem", "fullchain.crt"):
        assert os.path.isfile(server.workdir / name), name
    root = server.workdir / "pebble-root.pem"
    root.write_bytes(pebble.root_pem())
    issued = served_certificate(server, cafile=str(root), hostname="localhost")   # verifies the chain
    assert issued != self_signed
    cert = x509.load_der_x509_certificate(issued)
    assert cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "localhost"
    assert console_has(server, "new certificate for localhost in use")
    assert "cryptography" not in open(f"/proc/{server.process.pid}/maps").read()

    # The daily job's check: a certificate valid for longer than the margin is left alone.
    child = subprocess.run(
        [sys.executable, "-m", "blynklite.tls.acme_client", "--directory", pebble.directory, "--email", EMAIL,
         "--domain", "localhost", "--ca-file", pebble.files["ca.pem"], "--renew-within-days", "21"],
        cwd=server.workdir, capture_output=True, text=True, timeout=WAIT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert json.loads(child.stdout.splitlines()[-1])["done"] == "not due"


def test_ec_keys_on_request(make_server, pebble, plain_port):
    server = start_server(make_server, plain_port, acme_properties(pebble.directory, pebble.files["ca.pem"],
                                                                   **{"acme.key.type": "ec"}))
    wait_for_log(server, "new certificate for localhost in use")
    assert "BEGIN PRIVATE KEY" in (server.workdir / "privkey.pem").read_text()
    cert = x509.load_der_x509_certificate(served_certificate(server))
    assert cert.public_key().curve.name == "secp256r1"


# -- failures: each says what to do, the server keeps serving ------------------------------------------
def assert_failure_reported(server, *phrases):
    log = wait_for_log(server, "The server keeps serving with its current certificate")
    line = next(l for l in log.splitlines() if "The server keeps serving" in l)
    for phrase in phrases:
        assert phrase in line, (phrase, line)
    assert console_has(server, "The server keeps serving")
    assert plain_port_answers(server)
    assert served_certificate(server)            # still the self-signed certificate
    assert not os.path.exists(server.workdir / "fullchain.crt")


def test_an_ip_address_cannot_be_certified(make_server, plain_port, tmp_path):
    server = start_server(make_server, plain_port, acme_properties("https://127.0.0.1:1/dir", "", host="127.0.0.1"))
    assert_failure_reported(server, "IP address 127.0.0.1", "DNS names only", "set server.host to the DNS name")


def test_a_name_that_does_not_resolve(make_server, plain_port):
    server = start_server(make_server, plain_port, acme_properties("https://127.0.0.1:1/dir", "",
                                                                   host="no-such-name.invalid"))
    assert_failure_reported(server, "no-such-name.invalid does not resolve", "create a DNS A record")


def test_acme_server_down(make_server, plain_port):
    closed = free_ports(1)[0]
    server = start_server(make_server, plain_port, acme_properties(f"https://127.0.0.1:{closed}/dir", ""))
    assert_failure_reported(server, "cannot reach the ACME server", "tries again tomorrow")


def test_validation_cannot_reach_the_plain_port(make_server, tmp_path, plain_port):
    unreachable = free_ports(1)[0]           # Pebble validates on a port nothing listens on
    pebble = Pebble(str(tmp_path / "pebble-elsewhere"), unreachable)
    try:
        server = start_server(make_server, plain_port, acme_properties(pebble.directory, pebble.files["ca.pem"]))
        assert_failure_reported(server, "ACME error connection", "forward port 80", f"http.port {plain_port}")
    finally:
        pebble.stop()


class RateLimitedAcme(http.server.BaseHTTPRequestHandler):
    """An ACME server at its limit, as Let's Encrypt answers then (RFC 8555 §6.7, 429 + Retry-After)."""

    def do_GET(self):
        base = f"https://127.0.0.1:{self.server.server_port}"
        self.reply(200, {"newNonce": base + "/nonce", "newAccount": base + "/account", "newOrder": base + "/order"})

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Replay-Nonce", "nonce-1")
        self.end_headers()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.reply(429, {"type": "urn:ietf:params:acme:error:rateLimited",
                         "detail": "too many certificates already issued for exact set of domains"},
                   [("Retry-After", "3600"), ("Content-Type", "application/problem+json")])

    def reply(self, status, document, headers=()):
        body = json.dumps(document).encode()
        self.send_response(status)
        for name, value in headers or [("Content-Type", "application/json")]:
            self.send_header(name, value)
        self.send_header("Replay-Nonce", "nonce-2")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_rate_limited(make_server, tmp_path, plain_port):
    files = make_ca_and_cert(str(tmp_path))
    peer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RateLimitedAcme)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files["cert.pem"], files["key.pem"])
    peer.socket = context.wrap_socket(peer.socket, server_side=True)
    thread = threading.Thread(target=peer.serve_forever, daemon=True)
    thread.start()
    try:
        server = start_server(make_server, plain_port,
                              acme_properties(f"https://127.0.0.1:{peer.server_port}/dir", files["ca.pem"]))
        assert_failure_reported(server, "rateLimited", "too many certificates", "retry after 3600 s",
                                "letsencrypt.org/docs/rate-limits")
    finally:
        peer.shutdown()
        peer.server_close()


def test_automatic_mode_only_as_upstream_enables_it(make_server, plain_port):
    server = start_server(make_server, plain_port, {"server.host": "localhost", "contact.email": "example@gmail.com"})
    time.sleep(0.5)
    assert "Let's Encrypt" not in server.log_text()
