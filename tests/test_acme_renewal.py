"""The daily renewal job (spec/behaviours.md §6, upstream CertificateRenewalWorker) on a stepped clock:
the server runs in this process on a `SteppedClock`, gets its certificate from Pebble, then a day is
stepped. A certificate that expires within 21 days is renewed and served to new TLS connections; with
`renewal.disabled` nothing is asked for."""
import datetime
import os
import time

import pytest

from conftest import free_ports
from test_acme import EMAIL, PEBBLE, Pebble, served_certificate, x509

pytestmark = pytest.mark.skipif(PEBBLE is None, reason="Debian package pebble is not installed (.ci/run installs it)")

WAIT = 60.0
DAY = 24 * 3600


@pytest.fixture
def renewal_setup(tmp_path, monkeypatch):
    """Pebble, and a factory for an in-process server whose working directory holds the ACME files."""
    from automation_support import InProcessServer
    plain_port = free_ports(1)[0]
    pebble = Pebble(str(tmp_path / "pebble"), plain_port)
    workdir = tmp_path / "server"
    workdir.mkdir()
    monkeypatch.chdir(workdir)              # user.pem, privkey.pem and fullchain.crt live in the cwd
    started = []

    def start(**properties):
        server = InProcessServer(workdir, **{
            "http.port": plain_port, "server.host": "localhost", "contact.email": EMAIL,
            "acme.directory.url": pebble.directory, "acme.ca.file": pebble.files["ca.pem"], **properties})
        started.append(server)
        return server
    yield start, pebble, workdir
    for server in started:
        server.stop()
    pebble.stop()


def issuer_of(der):
    return x509.load_der_x509_certificate(der).issuer.rfc4514_string()


def wait_for_certificate(server, changed_from=None):
    """The TLS port's certificate once it is a Pebble one other than `changed_from`."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        der = served_certificate(server)
        if "Pebble" in issuer_of(der) and der != changed_from:
            return der
        time.sleep(0.2)
    raise AssertionError("the server did not serve a new Pebble certificate in time")


def expiring_chain(path, days):
    """Overwrite `path` with a certificate for localhost that expires in `days` (what the job reads)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=80))
            .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path.read_bytes()


def step_one_day(server):
    server.call(server.clock.jump, DAY)


def test_a_certificate_expiring_within_21_days_is_renewed_by_the_daily_job(renewal_setup):
    start, pebble, workdir = renewal_setup
    server = start()
    first = wait_for_certificate(server)
    expiring_chain(workdir / "fullchain.crt", days=5)
    step_one_day(server)
    second = wait_for_certificate(server, changed_from=first)
    assert x509.load_der_x509_certificate(second).serial_number != x509.load_der_x509_certificate(first).serial_number
    assert b"BEGIN CERTIFICATE" in (workdir / "fullchain.crt").read_bytes()


def test_renewal_disabled_asks_for_nothing(renewal_setup):
    start, pebble, workdir = renewal_setup
    server = start(**{"renewal.disabled": "true"})
    first = wait_for_certificate(server)
    short = expiring_chain(workdir / "fullchain.crt", days=5)
    step_one_day(server)
    step_one_day(server)
    time.sleep(3)                            # a renewal against Pebble takes about one second
    assert (workdir / "fullchain.crt").read_bytes() == short
    assert served_certificate(server) == first
    assert server.call(lambda: server.server.acme.running) is False
