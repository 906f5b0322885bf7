"""Write a self-signed TLS certificate and its key; run as a short-lived child process.

    python3 -m blynklite.selfsigned --out-dir DIR [--dns NAME ...] [--ip ADDR ...] [--days N]
                                    [--backend auto|cryptography|openssl]

What it owns: making one RSA 2048 key and a self-signed X.509 certificate for it (SHA-256, SAN with the
given names and addresses, BasicConstraints CA=False, usable for TLS server authentication), and writing
them as DIR/blynklite-selfsigned.key (mode 0600) and DIR/blynklite-selfsigned.crt.

What it never does: run inside the server. The server (blynklite.certs) starts this module with
`subprocess.run` so that the `cryptography` package, which costs several MB of memory once imported,
is loaded only in a process that exits seconds later. Keep this module's top-level imports to the
standard library: blynklite.certs imports the file-name constants from here.

RSA 2048 rather than EC P-256: old hardware clients (ESP8266 axTLS and BearSSL builds, Arduino TLS
libraries) speak RSA, not all of them speak ECDSA.

Backends: the `cryptography` package if it can be imported, else the `openssl` command-line tool if it
is on PATH. With neither, exit status 3 and a message on stderr.

Invariant: each file appears complete or not at all (temp file in DIR, fsync, rename), the key before
the certificate, so a reader that finds the certificate finds its key next to it.
"""

from __future__ import annotations  # `X | None` annotations on Python 3.9

import os
import sys
import time

from blynklite.storage.atomicfile import fsync_folder, write_atomically

CERT_FILE = "blynklite-selfsigned.crt"
# Text before "-----BEGIN" is ignored by PEM readers; the server reads its certificate's expiry from
# this first line instead of decoding the certificate, which would cost it over 1 MB of memory.
NOT_AFTER_MARKER = b"blynklite-not-after: "
KEY_FILE = "blynklite-selfsigned.key"

DEFAULT_DAYS = 3650  # ten years: nobody renews a self-signed certificate on a Raspberry Pi
KEY_BITS = 2048
COMMON_NAME_FALLBACK = "blynklite"

EXIT_FAILED = 1
EXIT_USAGE = 2  # argparse's own status for bad arguments
EXIT_NO_BACKEND = 3

NO_BACKEND_MESSAGE = (
    "neither the Python package 'cryptography' nor the 'openssl' command-line tool is available "
    "(pip install cryptography)"
)


class GenerationError(Exception):
    """Generation failed; the message is printed on stderr."""


class NoBackendError(GenerationError):
    """Neither cryptography nor openssl can be used."""


def _common_name(dns_names: list[str]) -> str:
    return dns_names[0] if dns_names else COMMON_NAME_FALLBACK


def _generate_with_cryptography(dns_names: list[str], ips: list[str], days: int) -> tuple[bytes, bytes]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, _common_name(dns_names)),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "blynklite self-signed"),
    ])
    san = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
    now = datetime.datetime.now(datetime.timezone.utc)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        # a day of slack for clients whose clock lags (a Raspberry Pi has no RTC)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=True, content_commitment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _openssl_config(dns_names: list[str], ips: list[str]) -> str:
    # A config file rather than -addext: -addext needs OpenSSL 1.1.1, a config file works with 1.0.2
    # and LibreSSL too. Names and addresses were validated, so they hold no ',' or newline.
    san = ",".join([f"DNS:{n}" for n in dns_names] + [f"IP:{a}" for a in ips])
    lines = [
        "[req]",
        "prompt = no",
        "distinguished_name = dn",
        "x509_extensions = v3",
        "[dn]",
        f"CN = {_common_name(dns_names)}",
        "O = blynklite self-signed",
        "[v3]",
        "basicConstraints = critical,CA:FALSE",
        "keyUsage = critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage = serverAuth",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
    ]
    if san:
        lines.append(f"subjectAltName = {san}")
    return "\n".join(lines) + "\n"


def _generate_with_openssl(
    openssl: str, dns_names: list[str], ips: list[str], days: int, work_dir: str
) -> tuple[bytes, bytes]:
    import shutil
    import subprocess
    import tempfile

    tmp = tempfile.mkdtemp(prefix=".selfsigned-", dir=work_dir)  # 0700: the key is written in here
    try:
        config = os.path.join(tmp, "req.cnf")
        cert_path = os.path.join(tmp, "cert.pem")
        key_path = os.path.join(tmp, "key.pem")
        with open(config, "w", encoding="ascii") as f:
            f.write(_openssl_config(dns_names, ips))
        serial = "0x" + (int.from_bytes(os.urandom(16), "big") >> 1).to_bytes(16, "big").hex()
        argv = [
            openssl, "req", "-x509", "-newkey", f"rsa:{KEY_BITS}", "-nodes", "-sha256",
            "-days", str(max(days, 1)), "-set_serial", serial,
            "-config", config, "-extensions", "v3",
            "-keyout", key_path, "-out", cert_path,
        ]
        try:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", timeout=120
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise GenerationError(f"running {openssl} failed: {e}") from None
        if proc.returncode != 0:
            detail = proc.stderr.strip().splitlines()
            raise GenerationError(
                f"{openssl} req failed with status {proc.returncode}: {detail[-1] if detail else 'no output'}"
            )
        with open(cert_path, "rb") as f:
            cert_pem = f.read()
        with open(key_path, "rb") as f:
            key_pem = f.read()
        return cert_pem, key_pem
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _cryptography_available() -> bool:
    try:
        import cryptography.x509  # noqa: F401
    except ImportError:
        return False
    return True


def generate(out_dir: str, dns_names: list[str], ips: list[str], days: int = DEFAULT_DAYS,
             backend: str = "auto") -> tuple[str, str]:
    """Write the pair into out_dir; return (cert_path, key_path)."""
    import shutil

    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    if backend in ("auto", "cryptography") and _cryptography_available():
        cert_pem, key_pem = _generate_with_cryptography(dns_names, ips, days)
    elif backend == "cryptography":
        raise NoBackendError("the Python package 'cryptography' is not installed (pip install cryptography)")
    else:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise NoBackendError(NO_BACKEND_MESSAGE)
        cert_pem, key_pem = _generate_with_openssl(openssl, dns_names, ips, days, out_dir)
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem or b"PRIVATE KEY-----" not in key_pem:
        raise GenerationError("the generated files are not PEM")
    cert_path = os.path.join(out_dir, CERT_FILE)
    key_path = os.path.join(out_dir, KEY_FILE)
    write_atomically(key_path, key_pem, 0o600)
    not_after = int(time.time()) + days * 24 * 3600
    write_atomically(cert_path, NOT_AFTER_MARKER + b"%d\n" % not_after + cert_pem, 0o644)
    fsync_folder(out_dir)
    return cert_path, key_path


def _parse_args(argv: list[str]):
    import argparse
    import ipaddress
    import re

    def dns_name(value: str) -> str:
        if len(value) > 253 or not re.fullmatch(r"(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?", value):
            raise argparse.ArgumentTypeError(f"not a DNS name: {value!r}")
        return value.rstrip(".").lower()

    def ip_address(value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip("[]")))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an IP address: {value!r}") from None

    def days(value: str) -> int:
        n = int(value)
        if n < 0:
            raise argparse.ArgumentTypeError("days must be >= 0")
        return n

    parser = argparse.ArgumentParser(prog="python3 -m blynklite.selfsigned", description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", required=True, help="folder for %s and %s" % (CERT_FILE, KEY_FILE))
    parser.add_argument("--dns", action="append", default=[], type=dns_name, metavar="NAME",
                        help="DNS name for the subjectAltName; the first one is also the CN")
    parser.add_argument("--ip", action="append", default=[], type=ip_address, metavar="ADDR",
                        help="IP address for the subjectAltName")
    parser.add_argument("--days", type=days, default=DEFAULT_DAYS, help="validity (default %(default)s)")
    parser.add_argument("--backend", choices=("auto", "cryptography", "openssl"), default="auto")
    return parser.parse_args(argv)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    out_dir = os.path.abspath(args.out_dir)
    try:
        cert_path, _ = generate(out_dir, _unique(args.dns), _unique(args.ip), args.days, args.backend)
    except NoBackendError as e:
        print(f"selfsigned: {e}", file=sys.stderr)
        return EXIT_NO_BACKEND
    except (GenerationError, OSError, ValueError) as e:
        print(f"selfsigned: cannot write a certificate in {out_dir}: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(cert_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
