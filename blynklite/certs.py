"""The TLS server context for the TLS port (9443): which certificate, which protocols.

What it owns: choosing the certificate and key at startup, in upstream order (framing.md §5),
  1. fullchain.crt + privkey.pem in the working directory (written by the Let's Encrypt client),
  2. server.ssl.cert + server.ssl.key (+ server.ssl.key.pass) from server.properties,
  3. a self-signed pair kept in the data folder, generated once and reused on later starts,
and building the one ssl.SSLContext that every TLS connection shares (ServerTLS says when).

What it never does: socket I/O or handshakes (blynklite/net does those), and it never imports
`cryptography`. That package costs several MB of resident memory, a big part of a Raspberry Pi budget,
so a self-signed certificate is made by a short-lived child process (blynklite/selfsigned.py) and this
process only reads PEM files through the stdlib ssl module (OpenSSL parses PKCS#1, PKCS#8, encrypted
PKCS#1/PKCS#8 and EC keys).

Invariant: a returned context holds a certificate with its matching key and never negotiates below
TLS 1.2; every way of failing that is a CertificateError whose message names the file and the
server.properties key at fault.
"""

from __future__ import annotations  # `X | None` annotations on Python 3.9

import os
import re
import socket
import ssl
import sys
import time

from .logger import Logger
from .net.tls import TLSUnavailable
from .selfsigned import CERT_FILE as SELF_SIGNED_CERT_FILE
from .selfsigned import KEY_FILE as SELF_SIGNED_KEY_FILE
from .selfsigned import NOT_AFTER_MARKER as SELF_SIGNED_NOT_AFTER_MARKER

# Written by the built-in Let's Encrypt client; if both are in the working directory they win.
ACME_CERT_FILE = "fullchain.crt"
ACME_KEY_FILE = "privkey.pem"

# Generating an RSA 2048 key takes well under a second on a PC and a few seconds on a Pi Zero.
GENERATION_TIMEOUT = 60.0
# A self-signed certificate this close to its end is replaced at startup instead of reused.
RENEW_BEFORE_EXPIRY = 24 * 3600

# Appended, least preferred, to Python's default TLS 1.2 suites (all ECDHE + AEAD) unless latest.tls
# is set. Old hardware (ESP8266 with axTLS, some Arduino TLS stacks, old Android apps) knows only
# AES-CBC and/or RSA key exchange; the upstream server (Netty's defaults) accepted these suites too.
LEGACY_TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA"
)

_DNS_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")

_FIX_HINT = (
    "install the Python package with `pip install cryptography` (or the openssl command-line tool), "
    "or configure a certificate with server.ssl.cert and server.ssl.key in server.properties"
)


class CertificateError(TLSUnavailable):
    """The TLS certificate or key cannot be used; the message names the file and the setting."""


class ServerTLS:
    """The SSLContext the TLS ports share, built when the first TLS client speaks (net/tls.py).

    OpenSSL's first context costs about 1.5 MB of resident memory (its global setup plus the
    certificate): much of a Pi Zero's budget, and wasted when every device uses the plain port. So the
    self-signed default is only checked at startup (present, PEM, not expiring; else generated) and
    loaded on first use. A certificate the user configured is loaded at startup instead, so a bad one
    stops the server with a message that names it.
    """
    __slots__ = ("_build", "_context", "cert_path")

    def __init__(self, build=None, context: ssl.SSLContext | None = None, cert_path: str = ""):
        self._build = build
        self._context = context
        self.cert_path = cert_path  # the certificate a TLS device or app must trust (start-up banner)

    def use(self, other: "ServerTLS") -> None:
        """Serve `other`'s certificate from the next TLS client on (a Let's Encrypt renewal, tls/acme.py);
        connections already open keep theirs."""
        self._build, self._context, self.cert_path = other._build, other._context, other.cert_path

    def context(self) -> ssl.SSLContext:
        """The context; raises CertificateError when the certificate cannot be loaded (asked again by the
        next client, so a repaired file is picked up without a restart)."""
        if self._context is None:
            self._context = self._build()
        return self._context


def server_tls(cfg, data_folder: str, log: Logger, cwd: str | None = None) -> ServerTLS:
    """The TLS ports' certificate, chosen as described above; see ServerTLS for when it is loaded."""
    cwd = os.getcwd() if cwd is None else cwd
    latest_tls = _flag(_setting(cfg, "latest.tls", False))
    pair = _configured_pair(cfg, cwd)
    if pair is not None:
        return ServerTLS(context=_configured_context(latest_tls, pair, log), cert_path=pair[0])

    def looks_usable(cert_path, key_path):
        if _looks_like_pem_pair(cert_path, key_path):
            return True
        log.warning("TLS: %s or %s is not a PEM file; generating a new self-signed pair", cert_path, key_path)
        return False
    cert_path, key_path, _ = _self_signed_pair(cfg, os.path.join(cwd, data_folder), log, looks_usable)

    def build():
        ctx = _new_context(latest_tls)
        _load_pair(ctx, cert_path, key_path, "", "the self-signed certificate", "its key")
        log.info("TLS: loaded the self-signed certificate %s for the first TLS client", cert_path)
        return ctx
    return ServerTLS(build=build, cert_path=cert_path)


def build_server_context(cfg, data_folder: str, log: Logger, cwd: str | None = None) -> ssl.SSLContext:
    """Return the server SSLContext for the TLS port, choosing the certificate as described above."""
    cwd = os.getcwd() if cwd is None else cwd
    latest_tls = _flag(_setting(cfg, "latest.tls", False))
    pair = _configured_pair(cfg, cwd)
    if pair is not None:
        return _configured_context(latest_tls, pair, log)
    ctx = _new_context(latest_tls)

    def loads_into_context(cert_path, key_path):
        try:
            _load_pair(ctx, cert_path, key_path, "", "the self-signed certificate", "its key")
        except CertificateError as e:
            log.warning("TLS: cannot reuse the self-signed certificate (%s); generating a new one", e)
            return False
        return True
    cert_path, key_path, generated = _self_signed_pair(cfg, os.path.join(cwd, data_folder), log,
                                                       loads_into_context)
    if generated:
        _load_pair(ctx, cert_path, key_path, "", "the generated self-signed certificate", "its key")
    return ctx


def generate_self_signed(out_dir: str, names, ips, days: int | None = None,
                         timeout: float = GENERATION_TIMEOUT) -> tuple[str, str]:
    """Write <out_dir>/blynklite-selfsigned.crt and .key in a child process; return their paths.

    names are DNS names (the first is also the certificate's CN), ips are IP addresses; both go into
    the subjectAltName. Raises CertificateError when the child fails or takes longer than timeout.
    """
    out_dir = os.path.abspath(out_dir)
    package_dir = os.path.dirname(os.path.abspath(__file__))
    package_parent = os.path.dirname(package_dir)
    module = f"{__package__ or os.path.basename(package_dir)}.selfsigned"
    argv = [sys.executable or "python3", "-m", module, "--out-dir", out_dir]
    for name in names:
        argv += ["--dns", name]
    for ip in ips:
        argv += ["--ip", ip]
    if days is not None:
        argv += ["--days", str(days)]
    import subprocess  # only at first start: keeps the idle server small
    env = dict(os.environ)
    env["PYTHONPATH"] = package_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.run(argv, cwd=package_parent, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CertificateError(
            f"generating a self-signed certificate in {out_dir} took longer than {timeout:g} s; "
            f"configure server.ssl.cert and server.ssl.key instead") from None
    except OSError as e:
        raise CertificateError(f"cannot start {argv[0]} to generate a self-signed certificate: {e}") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise CertificateError(f"cannot generate a self-signed certificate in {out_dir}: {detail}. "
                               f"To fix it, {_FIX_HINT}")
    return os.path.join(out_dir, SELF_SIGNED_CERT_FILE), os.path.join(out_dir, SELF_SIGNED_KEY_FILE)


def self_signed_names(server_host: str) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) for the self-signed certificate's subjectAltName."""
    names: list[str] = []
    ips: list[str] = []
    host = (server_host or "").strip().strip("[]")
    if host:
        import ipaddress  # only when generating: keeps the idle server small
        try:
            ips.append(str(ipaddress.ip_address(host)))
        except ValueError:
            if _is_dns_name(host):
                names.append(host.rstrip(".").lower())
    hostname = socket.gethostname()
    if _is_dns_name(hostname):
        names.append(hostname.lower())
        if "." not in hostname:
            names.append(hostname.lower() + ".local")  # mDNS name, e.g. raspberrypi.local
    names.append("localhost")
    ips += ["127.0.0.1", "::1"]
    return list(dict.fromkeys(names)), list(dict.fromkeys(ips))


# -- internals ----------------------------------------------------------------------------------------

def _new_context(latest_tls: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # never TLS 1.0/1.1, whatever latest.tls says
    if latest_tls and ssl.HAS_TLSv1_3:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_NONE  # one-way TLS: clients are never asked for a certificate
    ctx.options |= (ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_SINGLE_ECDH_USE
                    | ssl.OP_SINGLE_DH_USE | getattr(ssl, "OP_NO_RENEGOTIATION", 0))
    if not latest_tls:
        modern = [c["name"] for c in ctx.get_ciphers() if c.get("protocol") != "TLSv1.3"]
        try:
            ctx.set_ciphers(":".join(["@SECLEVEL=2"] + modern + [LEGACY_TLS12_CIPHERS]))
        except ssl.SSLError:
            pass  # this OpenSSL knows none of them: keep its defaults
    return ctx


def _configured_pair(cfg, cwd: str):
    """(cert path, key path, password, cert label, key label) of the certificate the user chose, or
    None for the self-signed default. Raises CertificateError for a half or missing configuration."""
    password = str(_setting(cfg, "server.ssl.key.pass", "") or "")
    acme_cert = os.path.join(cwd, ACME_CERT_FILE)
    acme_key = os.path.join(cwd, ACME_KEY_FILE)
    if os.path.isfile(acme_cert) and os.path.isfile(acme_key):
        return (acme_cert, acme_key, password, f"{ACME_CERT_FILE} in the working directory",
                f"{ACME_KEY_FILE} in the working directory")
    cert_setting = str(_setting(cfg, "server.ssl.cert", "") or "").strip()
    key_setting = str(_setting(cfg, "server.ssl.key", "") or "").strip()
    if not (cert_setting or key_setting):
        return None
    if not cert_setting:
        raise CertificateError("server.ssl.key is set but server.ssl.cert is empty: set both, or neither "
                               "to use a self-signed certificate")
    if not key_setting:
        raise CertificateError("server.ssl.cert is set but server.ssl.key is empty: set both, or neither "
                               "to use a self-signed certificate")
    cert_path = os.path.join(cwd, cert_setting)  # relative to the working directory, as upstream
    key_path = os.path.join(cwd, key_setting)
    for setting, path in (("server.ssl.cert", cert_path), ("server.ssl.key", key_path)):
        if not os.path.isfile(path):
            raise CertificateError(f"{setting}: file not found: {path}")
    return cert_path, key_path, password, "server.ssl.cert", "server.ssl.key"


def _configured_context(latest_tls: bool, pair, log: Logger) -> ssl.SSLContext:
    ctx = _new_context(latest_tls)
    cert_path, key_path, password, cert_label, key_label = pair
    _load_pair(ctx, cert_path, key_path, password, cert_label, key_label)
    log.info("TLS: using certificate %s with key %s", cert_path, key_path)
    return ctx


def _self_signed_pair(cfg, folder: str, log: Logger, reusable) -> tuple[str, str, bool]:
    """(cert path, key path, generated now) of the self-signed pair in `folder`: the one there if it
    is not about to expire and reusable(cert path, key path) says yes, else a new one."""
    cert_path = os.path.join(folder, SELF_SIGNED_CERT_FILE)
    key_path = os.path.join(folder, SELF_SIGNED_KEY_FILE)
    reused = False
    if os.path.isfile(cert_path) and os.path.isfile(key_path):
        not_after = _not_after(cert_path)
        if not_after is None:
            log.warning("TLS: the self-signed certificate %s does not say when it expires; "
                        "generating a new one", cert_path)
        elif not_after < time.time() + RENEW_BEFORE_EXPIRY:
            log.warning("TLS: the self-signed certificate %s has expired or expires within a day; "
                        "generating a new one", cert_path)
        else:
            reused = reusable(cert_path, key_path)
    if not reused:
        names, ips = self_signed_names(str(_setting(cfg, "server.host", "") or ""))
        log.info("TLS: generating a self-signed certificate for %s in %s", ", ".join(names + ips), folder)
        started = time.monotonic()
        generate_self_signed(folder, names, ips)
        log.info("TLS: self-signed certificate generated in %.1f s", time.monotonic() - started)
    log.warning(
        "TLS: using the self-signed certificate %s; apps and devices that verify certificates will not "
        "trust it. To use a real certificate set server.ssl.cert and server.ssl.key (PEM files, and "
        "server.ssl.key.pass if the key is encrypted) in server.properties, or put fullchain.crt and "
        "privkey.pem in the working directory.", cert_path)
    return cert_path, key_path, not reused


def _looks_like_pem_pair(cert_path: str, key_path: str) -> bool:
    """A check without OpenSSL (see ServerTLS): both files hold the PEM blocks they should."""
    return ("-----BEGIN CERTIFICATE-----" in _read_text(cert_path)
            and "PRIVATE KEY-----" in _read_text(key_path))


def _load_pair(ctx: ssl.SSLContext, cert_path: str, key_path: str, password: str,
               cert_label: str, key_label: str) -> None:
    secret = password.encode("utf-8")
    try:
        # A callable, never None: with None OpenSSL would prompt for a password on the terminal.
        ctx.load_cert_chain(cert_path, key_path, password=lambda: secret)
    except ssl.SSLError as e:
        raise CertificateError(_explain(e, cert_path, key_path, password, cert_label, key_label)) from None
    except ValueError as e:  # e.g. a password longer than OpenSSL accepts
        raise CertificateError(f"{key_label}: cannot load {key_path}: {e}") from None
    except OSError as e:
        raise CertificateError(f"cannot read {e.filename or cert_path} ({cert_label} / {key_label}): "
                               f"{e.strerror or e}") from None


def _explain(error: ssl.SSLError, cert_path: str, key_path: str, password: str,
             cert_label: str, key_label: str) -> str:
    """Turn OpenSSL's terse load error ("PEM lib") into which file is wrong and why."""
    # KEY_VALUES_MISMATCH: same key type, other key; NO_CERTIFICATE_ASSIGNED: other key type (EC vs RSA)
    if error.reason in ("KEY_VALUES_MISMATCH", "NO_CERTIFICATE_ASSIGNED"):
        return (f"the private key {key_path} ({key_label}) does not match the certificate {cert_path} "
                f"({cert_label})")
    cert_text = _read_text(cert_path)
    if "-----BEGIN CERTIFICATE-----" not in cert_text or not _parses_as_certificate(cert_path):
        return f"{cert_label}: {cert_path} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)"
    key_text = _read_text(key_path)
    if "PRIVATE KEY-----" not in key_text:
        return f"{key_label}: {key_path} is not a PEM private key (expected -----BEGIN ... PRIVATE KEY-----)"
    encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----" in key_text or "Proc-Type: 4,ENCRYPTED" in key_text
    if encrypted and not password:
        return f"{key_label}: {key_path} is encrypted; set its password in server.ssl.key.pass"
    if encrypted:
        return (f"{key_label}: cannot decrypt {key_path} with server.ssl.key.pass "
                f"(wrong password or unsupported encryption)")
    return f"cannot load {cert_path} ({cert_label}) with key {key_path} ({key_label}): {error}"


def _parses_as_certificate(path: str) -> bool:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        return False
    return True


def _not_after(cert_path: str) -> float | None:
    """Our self-signed certificate's expiry as a Unix time (its first line), or None."""
    try:
        with open(cert_path, "rb") as f:
            first_line = f.readline(100)
    except OSError:
        return None
    if not first_line.startswith(SELF_SIGNED_NOT_AFTER_MARKER):
        return None
    try:
        return float(first_line[len(SELF_SIGNED_NOT_AFTER_MARKER):])
    except ValueError:
        return None


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20).decode("ascii", "replace")
    except OSError:
        return ""


def _is_dns_name(name: str) -> bool:
    name = name.rstrip(".")
    return 0 < len(name) <= 253 and _DNS_NAME.fullmatch(name) is not None


def _setting(cfg, key: str, default):
    try:
        return cfg[key]
    except KeyError:
        return default


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
