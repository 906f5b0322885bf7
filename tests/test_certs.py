"""TLS certificate selection and the server SSLContext, checked with real handshakes over socket pairs."""

import datetime
import logging
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from blynklite.certs import CertificateError, build_server_context, server_tls
from blynklite.selfsigned import CERT_FILE, KEY_FILE

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 10.0
LOG = logging.getLogger("test_certs")


# -- helpers ----------------------------------------------------------------------------------------

def config(**overrides):
    cfg = {"server.ssl.cert": "", "server.ssl.key": "", "server.ssl.key.pass": "", "latest.tls": False,
           "server.host": ""}
    cfg.update({k.replace("_", "."): v for k, v in overrides.items()})
    return cfg


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str | None) -> str:
    """Handshake and echo one message over a socket pair; return the TLS version, raise the first error."""
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(TIMEOUT)
    client_sock.settimeout(TIMEOUT)
    server_errors = []

    def serve():
        tls = server_ctx.wrap_socket(server_sock, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
            tls.sendall(tls.recv(5).upper())
        except (OSError, ssl.SSLError) as e:
            server_errors.append(e)
        finally:
            tls.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    tls = client_ctx.wrap_socket(client_sock, server_hostname=server_hostname, do_handshake_on_connect=False)
    try:
        tls.do_handshake()
        tls.sendall(b"hello")
        reply = tls.recv(5)
        version = tls.version()
    finally:
        tls.close()  # the server thread sees EOF at once if we failed
        thread.join(TIMEOUT)
    assert not thread.is_alive(), "server side of the handshake did not finish"
    if server_errors:
        raise server_errors[0]
    assert reply == b"HELLO"
    return version


def verifying_client(cafile) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    ctx.load_verify_locations(cafile=str(cafile))
    return ctx


def lenient_client() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def make_cert_pem(key, dns_names=("localhost",)) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key, fmt=serialization.PrivateFormat.PKCS8, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def write_pair(folder: Path, key, *, fmt=serialization.PrivateFormat.PKCS8, password=None,
               dns_names=("localhost",), cert_name="server.crt", key_name="server.key"):
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / cert_name, folder / key_name
    cert_path.write_bytes(make_cert_pem(key, dns_names))
    key_path.write_bytes(key_pem(key, fmt, password))
    return cert_path, key_path


def run_python(code: str, cwd: Path, env_overrides: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def run_selfsigned(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "blynklite.selfsigned", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def cwd(tmp_path):
    path = tmp_path / "cwd"
    path.mkdir()
    return path


# -- self-signed ------------------------------------------------------------------------------------

def test_self_signed_is_generated_once_then_reused(tmp_path, cwd, caplog):
    data = tmp_path / "data"
    caplog.set_level(logging.INFO, logger=LOG.name)

    first = build_server_context(config(), str(data), LOG, cwd=str(cwd))
    cert, key = data / CERT_FILE, data / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = (cert.read_bytes(), key.read_bytes(), cert.stat().st_mtime_ns, key.stat().st_mtime_ns)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("self-signed" in m and "server.ssl.cert" in m for m in warnings), warnings

    second = build_server_context(config(), str(data), LOG, cwd=str(cwd))
    after = (cert.read_bytes(), key.read_bytes(), cert.stat().st_mtime_ns, key.stat().st_mtime_ns)
    assert after == before

    for ctx in (first, second):
        for hostname in ("localhost", "127.0.0.1", "::1"):
            assert handshake(ctx, verifying_client(cert), hostname) in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("server_host", ["blynk.example.test", "192.0.2.7", "2001:db8::7"])
def test_self_signed_certificate_names_server_host_and_machine_name(tmp_path, cwd, server_host):
    data = tmp_path / "data"
    ctx = build_server_context(config(server_host=server_host), str(data), LOG, cwd=str(cwd))
    client = verifying_client(data / CERT_FILE)
    handshake(ctx, client, server_host)
    hostname = socket.gethostname().lower()
    if hostname and all(c.isalnum() or c in "-._" for c in hostname):
        handshake(ctx, client, hostname)


def test_unusable_self_signed_pair_is_replaced(tmp_path, cwd):
    data = tmp_path / "data"
    data.mkdir()
    (data / CERT_FILE).write_text("not a certificate\n")
    (data / KEY_FILE).write_text("not a key\n")
    ctx = build_server_context(config(), str(data), LOG, cwd=str(cwd))
    assert "BEGIN CERTIFICATE" in (data / CERT_FILE).read_text()
    handshake(ctx, verifying_client(data / CERT_FILE), "localhost")


def test_expired_self_signed_certificate_is_replaced(tmp_path, cwd):
    data = tmp_path / "data"
    proc = run_selfsigned("--out-dir", str(data), "--dns", "localhost", "--days", "0")
    assert proc.returncode == 0, proc.stderr
    expired = (data / CERT_FILE).read_bytes()
    with pytest.raises(ssl.SSLCertVerificationError):
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(data / CERT_FILE, data / KEY_FILE)
        handshake(server, verifying_client(data / CERT_FILE), "localhost")

    ctx = build_server_context(config(), str(data), LOG, cwd=str(cwd))
    assert (data / CERT_FILE).read_bytes() != expired
    handshake(ctx, verifying_client(data / CERT_FILE), "localhost")


def test_self_signed_certificate_without_its_expiry_line_is_replaced(tmp_path, cwd):
    data = tmp_path / "data"
    build_server_context(config(), str(data), LOG, cwd=str(cwd))
    cert = data / CERT_FILE
    first_line, pem = cert.read_bytes().split(b"\n", 1)
    assert first_line.startswith(b"blynklite-not-after: ")
    cert.write_bytes(pem)

    ctx = build_server_context(config(), str(data), LOG, cwd=str(cwd))
    assert cert.read_bytes().startswith(b"blynklite-not-after: ") and not cert.read_bytes().endswith(pem)
    handshake(ctx, verifying_client(cert), "localhost")


# -- ServerTLS: the self-signed default is loaded by the first TLS client ---------------------------

def test_server_tls_writes_the_self_signed_pair_at_startup_and_serves_it(tmp_path, cwd):
    data = tmp_path / "data"
    tls = server_tls(config(), str(data), LOG, cwd=str(cwd))
    assert (data / CERT_FILE).is_file() and (data / KEY_FILE).is_file()
    context = tls.context()
    assert tls.context() is context                     # built once, then shared
    handshake(context, verifying_client(data / CERT_FILE), "localhost")


def test_server_tls_replaces_a_pair_that_is_not_pem(tmp_path, cwd):
    data = tmp_path / "data"
    build_server_context(config(), str(data), LOG, cwd=str(cwd))
    marker_line = (data / CERT_FILE).read_bytes().split(b"\n", 1)[0]
    (data / CERT_FILE).write_bytes(marker_line + b"\nnot a certificate\n")   # fresh expiry line, no PEM
    server_tls(config(), str(data), LOG, cwd=str(cwd))
    assert b"-----BEGIN CERTIFICATE-----" in (data / CERT_FILE).read_bytes()


def test_server_tls_reports_a_pair_broken_after_startup_when_it_is_used(tmp_path, cwd):
    data = tmp_path / "data"
    tls = server_tls(config(), str(data), LOG, cwd=str(cwd))
    (data / KEY_FILE).write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    with pytest.raises(CertificateError, match="its key"):
        tls.context()


def test_server_tls_loads_a_configured_certificate_at_startup(tmp_path, cwd, rsa_key):
    cert_path, key_path = write_pair(tmp_path / "tls", rsa_key)
    key_path.write_bytes(key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    cfg = config(server_ssl_cert=str(cert_path), server_ssl_key=str(key_path))
    with pytest.raises(CertificateError, match="does not match"):
        server_tls(cfg, str(tmp_path / "data"), LOG, cwd=str(cwd))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command-line tool on PATH")
def test_openssl_fallback_writes_a_usable_pair(tmp_path, cwd):
    data = tmp_path / "data"
    proc = run_selfsigned("--out-dir", str(data), "--dns", "localhost", "--ip", "127.0.0.1",
                          "--backend", "openssl")
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE((data / KEY_FILE).stat().st_mode) == 0o600
    generated = (data / CERT_FILE).read_bytes()

    ctx = build_server_context(config(), str(data), LOG, cwd=str(cwd))  # reused, not regenerated
    assert (data / CERT_FILE).read_bytes() == generated
    for hostname in ("localhost", "127.0.0.1"):
        handshake(ctx, verifying_client(data / CERT_FILE), hostname)


def test_server_process_never_imports_cryptography(tmp_path):
    data = tmp_path / "data"
    proc = run_python(f"""
        import logging, sys
        import blynklite.certs as certs
        cfg = {config()!r}
        certs.build_server_context(cfg, {str(data)!r}, logging.getLogger("t"), cwd={str(tmp_path)!r})
        print("cryptography" in sys.modules)
        """, cwd=tmp_path, env_overrides={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert (data / CERT_FILE).is_file()  # it did generate, in the child
    assert proc.stdout.split() == ["False"]


def test_without_cryptography_or_openssl_the_error_says_what_to_do(tmp_path):
    blocker = tmp_path / "blocked" / "cryptography"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('cryptography blocked by the test')\n")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    proc = run_python(f"""
        import logging
        from blynklite.certs import CertificateError, build_server_context, server_tls
        try:
            build_server_context({config()!r}, {str(tmp_path / "data")!r}, logging.getLogger("t"),
                                 cwd={str(tmp_path)!r})
        except CertificateError as e:
            print(e)
        else:
            print("NO ERROR")
        """, cwd=tmp_path,
        env_overrides={"PYTHONPATH": os.pathsep.join([str(blocker.parent), str(ROOT)]), "PATH": str(empty_bin)})
    assert proc.returncode == 0, proc.stderr
    assert "pip install cryptography" in proc.stdout
    assert "server.ssl.cert" in proc.stdout and "server.ssl.key" in proc.stdout


# -- configured certificate ---------------------------------------------------------------------------

PKCS1 = serialization.PrivateFormat.TraditionalOpenSSL
PKCS8 = serialization.PrivateFormat.PKCS8


@pytest.mark.parametrize("kind, fmt, password, marker", [
    ("rsa", PKCS1, None, "-----BEGIN RSA PRIVATE KEY-----"),
    ("rsa", PKCS1, b"s3cret", "Proc-Type: 4,ENCRYPTED"),
    ("rsa", PKCS8, None, "-----BEGIN PRIVATE KEY-----"),
    ("rsa", PKCS8, b"s3cret", "-----BEGIN ENCRYPTED PRIVATE KEY-----"),
    ("ec", PKCS1, None, "-----BEGIN EC PRIVATE KEY-----"),
    ("ec", PKCS8, b"s3cret", "-----BEGIN ENCRYPTED PRIVATE KEY-----"),
], ids=["pkcs1", "pkcs1-encrypted", "pkcs8", "pkcs8-encrypted", "ec", "ec-pkcs8-encrypted"])
def test_configured_key_formats_load(tmp_path, cwd, rsa_key, kind, fmt, password, marker):
    key = rsa_key if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    cert_path, key_path = write_pair(tmp_path / "tls", key, fmt=fmt, password=password)
    assert marker in key_path.read_text()
    cfg = config(server_ssl_cert=str(cert_path), server_ssl_key=str(key_path),
                 server_ssl_key_pass=(password or b"").decode())
    data = tmp_path / "data"

    ctx = build_server_context(cfg, str(data), LOG, cwd=str(cwd))

    handshake(ctx, verifying_client(cert_path), "localhost")
    assert not (data / CERT_FILE).exists()  # no self-signed fallback


def test_configured_paths_are_relative_to_the_working_directory(cwd, rsa_key, tmp_path):
    write_pair(cwd / "tls", rsa_key)
    cfg = config(server_ssl_cert="tls/server.crt", server_ssl_key="tls/server.key")
    ctx = build_server_context(cfg, str(tmp_path / "data"), LOG, cwd=str(cwd))
    handshake(ctx, verifying_client(cwd / "tls" / "server.crt"), "localhost")


@pytest.mark.parametrize("given", ["", "wrong"], ids=["no-password", "wrong-password"])
@pytest.mark.parametrize("fmt", [PKCS1, PKCS8], ids=["pkcs1", "pkcs8"])
def test_encrypted_key_without_the_right_password_is_refused(tmp_path, cwd, rsa_key, fmt, given):
    cert_path, key_path = write_pair(tmp_path / "tls", rsa_key, fmt=fmt, password=b"s3cret")
    cfg = config(server_ssl_cert=str(cert_path), server_ssl_key=str(key_path), server_ssl_key_pass=given)
    with pytest.raises(CertificateError) as info:
        build_server_context(cfg, str(tmp_path / "data"), LOG, cwd=str(cwd))
    assert "server.ssl.key.pass" in str(info.value) and str(key_path) in str(info.value)


@pytest.mark.parametrize("missing", ["server.ssl.cert", "server.ssl.key"])
def test_missing_configured_file_is_named(tmp_path, cwd, rsa_key, missing):
    cert_path, key_path = write_pair(tmp_path / "tls", rsa_key)
    gone = cert_path if missing == "server.ssl.cert" else key_path
    gone.unlink()
    cfg = config(server_ssl_cert=str(cert_path), server_ssl_key=str(key_path))
    with pytest.raises(CertificateError) as info:
        build_server_context(cfg, str(tmp_path / "data"), LOG, cwd=str(cwd))
    assert missing in str(info.value) and str(gone) in str(info.value)


def test_only_one_of_cert_and_key_configured_is_an_error(tmp_path, cwd, rsa_key):
    cert_path, _ = write_pair(tmp_path / "tls", rsa_key)
    with pytest.raises(CertificateError, match="server.ssl.key"):
        build_server_context(config(server_ssl_cert=str(cert_path)), str(tmp_path / "data"), LOG, cwd=str(cwd))


@pytest.mark.parametrize("other_key", [
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    lambda: ec.generate_private_key(ec.SECP256R1()),
], ids=["other-rsa-key", "ec-key-for-rsa-cert"])
def test_key_that_does_not_match_the_certificate_is_refused(tmp_path, cwd, rsa_key, other_key):
    cert_path, key_path = write_pair(tmp_path / "tls", rsa_key)
    key_path.write_bytes(key_pem(other_key()))
    cfg = config(server_ssl_cert=str(cert_path), server_ssl_key=str(key_path))
    with pytest.raises(CertificateError, match="does not match"):
        build_server_context(cfg, str(tmp_path / "data"), LOG, cwd=str(cwd))


def test_file_that_is_not_a_certificate_is_named(tmp_path, cwd, rsa_key):
    cert_path, key_path = write_pair(tmp_path / "tls", rsa_key)
    cert_path.write_bytes(key_pem(rsa_key))  # a key where the certificate should be
    cfg = config(server_ssl_cert=str(cert_path), server_ssl_key=str(key_path))
    with pytest.raises(CertificateError) as info:
        build_server_context(cfg, str(tmp_path / "data"), LOG, cwd=str(cwd))
    assert "server.ssl.cert" in str(info.value) and "not a PEM certificate" in str(info.value)


# -- Let's Encrypt files in the working directory -------------------------------------------------------

def test_fullchain_and_privkey_in_working_directory_win(tmp_path, cwd, rsa_key):
    acme_key = ec.generate_private_key(ec.SECP256R1())
    write_pair(cwd, acme_key, dns_names=("acme.example.test",), cert_name="fullchain.crt",
               key_name="privkey.pem")
    configured_cert, configured_key = write_pair(tmp_path / "tls", rsa_key, dns_names=("configured.test",))
    cfg = config(server_ssl_cert=str(configured_cert), server_ssl_key=str(configured_key))
    data = tmp_path / "data"

    ctx = build_server_context(cfg, str(data), LOG, cwd=str(cwd))

    handshake(ctx, verifying_client(cwd / "fullchain.crt"), "acme.example.test")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ctx, verifying_client(configured_cert), "configured.test")
    assert not (data / CERT_FILE).exists()


def test_fullchain_alone_without_privkey_is_ignored(tmp_path, cwd, rsa_key):
    write_pair(cwd, ec.generate_private_key(ec.SECP256R1()), cert_name="fullchain.crt", key_name="other.pem")
    configured_cert, configured_key = write_pair(tmp_path / "tls", rsa_key, dns_names=("configured.test",))
    cfg = config(server_ssl_cert=str(configured_cert), server_ssl_key=str(configured_key))
    ctx = build_server_context(cfg, str(tmp_path / "data"), LOG, cwd=str(cwd))
    handshake(ctx, verifying_client(configured_cert), "configured.test")


# -- protocol versions and ciphers --------------------------------------------------------------------

@pytest.fixture
def configured_ctx_factory(tmp_path, cwd, rsa_key):
    cert_path, key_path = write_pair(tmp_path / "tls", rsa_key)

    def factory(latest_tls: bool) -> ssl.SSLContext:
        cfg = config(server_ssl_cert=str(cert_path), server_ssl_key=str(key_path), latest_tls=latest_tls)
        return build_server_context(cfg, str(tmp_path / "data"), LOG, cwd=str(cwd))
    factory.cert_path = cert_path
    factory.key_path = key_path
    return factory


def tls11_client() -> ssl.SSLContext:
    ctx = lenient_client()
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("latest_tls", [False, True])
def test_tls_1_1_client_is_refused(configured_ctx_factory, latest_tls):
    # Control: a server that allows TLS 1.1, so a failure below is ours and not the local OpenSSL's.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    permissive.minimum_version = ssl.TLSVersion.TLSv1
    permissive.load_cert_chain(configured_ctx_factory.cert_path, configured_ctx_factory.key_path)
    try:
        assert handshake(permissive, tls11_client(), None) == "TLSv1.1"
    except (ssl.SSLError, ValueError) as e:
        pytest.skip(f"the local OpenSSL cannot negotiate TLS 1.1 at all: {e}")

    ctx = configured_ctx_factory(latest_tls)
    with pytest.raises(ssl.SSLError):
        handshake(ctx, tls11_client(), None)
    # OpenSSL 3 at @SECLEVEL=2 refuses TLS 1.1 by itself; OpenSSL 1.1.1 (older Raspberry Pi OS) does not,
    # so the explicit floor is what keeps the handshake above refused there.
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("latest_tls", [False, True])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_clients_are_accepted(configured_ctx_factory, latest_tls, version):
    client = verifying_client(configured_ctx_factory.cert_path)
    client.minimum_version = client.maximum_version = version
    assert handshake(configured_ctx_factory(latest_tls), client, "localhost") == version.name.replace("_", ".")


def test_old_hardware_cipher_is_accepted_unless_latest_tls(configured_ctx_factory):
    # What an ESP8266 with axTLS offers: TLS 1.2, RSA key exchange, AES-CBC.
    client = verifying_client(configured_ctx_factory.cert_path)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers("AES128-SHA")
    handshake(configured_ctx_factory(False), client, "localhost")
    with pytest.raises(ssl.SSLError):
        handshake(configured_ctx_factory(True), client, "localhost")
