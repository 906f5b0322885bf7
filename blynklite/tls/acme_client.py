"""An ACME v2 (RFC 8555) client for one name, with the http-01 challenge; run as a child process.

    python3 -m blynklite.tls.acme_client --directory URL --email E --domain D [--ca-file F]
                                         [--key-type rsa|ec] [--renew-within-days N]

What it owns: upstream AcmeClient's flow in the working directory: load or create the account key
`user.pem`, register (or find) the account agreeing to the terms, load or create the domain key
`privkey.pem`, order a certificate, answer each authorization's http-01 challenge, send a CSR (the
name, organisation "Blynk Inc."), and write the issued chain to `fullchain.crt`.

What it never does: run inside the server, or serve the challenge itself. The server (tls/acme.py)
starts this module so that `cryptography` (keys, JWS signatures, the CSR) is loaded only in a process
that exits when the order is done. The two talk through lines of JSON:
  child → server  {"challenge": token, "content": key authorization}   then waits for a line on stdin
                  (the server answers once its plain port serves the content);
                  {"done": "issued" | "not due", "not_after": unix time};
                  {"error": what happened, "hint": what the user should do}  (exit status 1).

Invariant: files appear complete or not at all (temp file, fsync, rename), keys before the chain, so
the server never finds a fullchain.crt without the privkey.pem it was issued for.
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request

from blynklite.storage.atomicfile import write_atomically

USER_KEY_FILE = "user.pem"
DOMAIN_KEY_FILE = "privkey.pem"
DOMAIN_CHAIN_FILE = "fullchain.crt"
ORGANIZATION = "Blynk Inc."
RSA_BITS = 2048                        # as upstream; old device TLS stacks speak RSA only
# Upstream polls a challenge and the order 10 times, 3 s apart; we start faster and end the same.
POLL_DELAYS = (0.5, 1, 2, 3, 3, 3, 3, 3, 3, 3)
HTTP_TIMEOUT = 30.0                    # one request to the ACME server
CHALLENGE_ACK_TIMEOUT = 30.0           # the server must confirm it serves the challenge by then
BAD_NONCE_RETRIES = 3                  # RFC 8555 §6.5: badNonce is to be retried with a fresh nonce
PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
ERROR_PREFIX = "urn:ietf:params:acme:error:"


class AcmeFailure(Exception):
    """The flow cannot go on; `hint` says what the user should do about it."""

    def __init__(self, message, hint):
        super().__init__(message)
        self.hint = hint


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# -- keys ---------------------------------------------------------------------------------------------
def load_or_create_key(path, key_type):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return serialization.load_pem_private_key(f.read(), password=None)
    if key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    write_atomically(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    return key


class AccountKey:
    """JWK, thumbprint and JWS signatures (RS256 or ES256) of the account key."""

    def __init__(self, key):
        from cryptography.hazmat.primitives.asymmetric import ec
        self.key = key
        numbers = key.public_key().public_numbers()
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self.alg = "ES256"
            self.jwk = {"crv": "P-256", "kty": "EC", "x": b64(numbers.x.to_bytes(32, "big")),
                        "y": b64(numbers.y.to_bytes(32, "big"))}
        else:
            self.alg = "RS256"
            self.jwk = {"e": b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                        "kty": "RSA", "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))}
        canonical = json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()
        self.thumbprint = b64(hashlib.sha256(canonical).digest())

    def sign(self, data):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
        if self.alg == "ES256":
            r, s = utils.decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def csr_der(domain, key):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, domain),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]))
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def not_after_of(path):
    """The expiry (Unix time) of the first certificate in `path`, or None."""
    from cryptography import x509
    try:
        with open(path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError):
        return None
    expiry = getattr(cert, "not_valid_after_utc", None)
    if expiry is None:     # cryptography < 42
        import calendar
        return float(calendar.timegm(cert.not_valid_after.timetuple()))
    return expiry.timestamp()


# -- the protocol ---------------------------------------------------------------------------------------
class Acme:
    def __init__(self, directory_url, account_key, ca_file=None, http_port=8080):
        self.directory_url = directory_url
        self.http_port = http_port
        self.key = account_key
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self.kid = None
        self.nonce = None
        self.directory = self.get_json(directory_url)

    def request(self, url, data=None, method=None, headers=None):
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        req.add_header("User-Agent", "blynklite-acme")
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT, context=self.context) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()
        except urllib.error.URLError as error:
            raise unreachable(url, error.reason) from None
        except OSError as error:
            raise unreachable(url, error) from None

    def get_json(self, url):
        status, headers, body = self.request(url)
        if status != 200:
            raise AcmeFailure(f"the ACME server answered {status} for {url}",
                              "check acme.directory.url; the server may be down, try again later")
        return json.loads(body)

    def new_nonce(self):
        status, headers, _ = self.request(self.directory["newNonce"], method="HEAD")
        return headers.get("Replay-Nonce")

    def post(self, url, payload):
        """A signed POST (payload None = POST-as-GET); (status, headers, parsed or raw body)."""
        for _ in range(BAD_NONCE_RETRIES + 1):
            nonce = self.nonce or self.new_nonce()
            self.nonce = None
            protected = {"alg": self.key.alg, "nonce": nonce, "url": url}
            if self.kid:
                protected["kid"] = self.kid
            else:
                protected["jwk"] = self.key.jwk
            protected64 = b64(json.dumps(protected).encode())
            payload64 = "" if payload is None else b64(json.dumps(payload).encode())
            signature = self.key.sign(f"{protected64}.{payload64}".encode())
            body = json.dumps({"protected": protected64, "payload": payload64, "signature": b64(signature)})
            status, headers, raw = self.request(url, body.encode(), "POST",
                                                {"Content-Type": "application/jose+json"})
            self.nonce = headers.get("Replay-Nonce")
            content_type = headers.get("Content-Type", "")
            parsed = json.loads(raw) if "json" in content_type and raw else raw
            if status >= 400 and isinstance(parsed, dict) and parsed.get("type") == ERROR_PREFIX + "badNonce":
                continue
            if status >= 400:
                raise problem(parsed, status, headers)
            return status, headers, parsed
        raise AcmeFailure("the ACME server kept refusing our nonces", "try again later")

    def account(self, email):
        status, headers, _ = self.post(self.directory["newAccount"], {
            "termsOfServiceAgreed": True, "contact": [f"mailto:{email}"]})
        self.kid = headers["Location"]
        return status == 201

    def order(self, domain):
        _, headers, order = self.post(self.directory["newOrder"],
                                      {"identifiers": [{"type": "dns", "value": domain}]})
        return headers["Location"], order

    def authorize(self, authz_url, announce):
        _, _, authz = self.post(authz_url, None)
        if authz.get("status") == "valid":
            return
        challenge = next((c for c in authz.get("challenges", ()) if c.get("type") == "http-01"), None)
        if challenge is None:
            raise AcmeFailure("the ACME server offers no http-01 challenge", "use another ACME server")
        announce(challenge["token"], f"{challenge['token']}.{self.key.thumbprint}")
        self.post(challenge["url"], {})
        domain = authz.get("identifier", {}).get("value", "")
        for delay in POLL_DELAYS:
            time.sleep(delay)
            _, _, authz = self.post(authz_url, None)
            if authz.get("status") == "valid":
                return
            if authz.get("status") == "invalid":
                failed = next((c for c in authz.get("challenges", ()) if c.get("error")), challenge)
                raise problem(failed.get("error") or {}, 400, {}, domain, self.http_port)
        raise AcmeFailure(f"the challenge for {domain} was not validated in time",
                          "try again later; if it keeps failing, check that port 80 reaches this server")

    def finalize(self, order_url, order, csr):
        _, _, order = self.post(order["finalize"], {"csr": b64(csr)})
        for delay in (0,) + POLL_DELAYS:
            if order.get("status") == "valid":
                _, _, chain = self.post(order["certificate"], None)
                return chain if isinstance(chain, bytes) else json.dumps(chain).encode()
            if order.get("status") == "invalid":
                raise problem(order.get("error") or {}, 400, {})
            time.sleep(delay)
            _, _, order = self.post(order_url, None)
        raise AcmeFailure("the certificate was not issued in time", "try again later")


def unreachable(url, reason):
    return AcmeFailure(f"cannot reach the ACME server at {url}: {reason}",
                       "the ACME server is down or this machine has no internet access; the server keeps its "
                       "current certificate and tries again tomorrow (or restart it to try now)")


def problem(document, status, headers, domain="", http_port=8080):
    """An RFC 8555 error document as an AcmeFailure with advice for the common cases."""
    if not isinstance(document, dict):
        document = {}
    kind = str(document.get("type", "")).replace(ERROR_PREFIX, "")
    detail = document.get("detail") or f"HTTP {status}"
    name = domain or "the server name"
    hints = {
        "rateLimited": "Let's Encrypt limits how many certificates a name gets; wait before trying again"
                       + (f" (the server says: retry after {headers.get('Retry-After')} s)"
                          if headers.get("Retry-After") else "") + "; see https://letsencrypt.org/docs/rate-limits/",
        "dns": f"{name} must resolve in public DNS to this server's public address: create an A record for it",
        "connection": f"Let's Encrypt could not connect to http://{name}/ on port 80: forward port 80 to this "
                      f"server's http.port {http_port} (e.g. iptables -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT "
                      f"--to-port {http_port}) and open it in the firewall and the router",
        "unauthorized": f"http://{name}/.well-known/acme-challenge/ did not answer with our key: port 80 of "
                        f"{name} reaches another server; forward it to this server's http.port",
        "rejectedIdentifier": f"the ACME server will not certify {name}: use a public DNS name in server.host",
        "malformed": "the ACME server refused the request; check server.host and contact.email",
        "invalidContact": "contact.email is not accepted by the ACME server: set a real e-mail address",
        "unsupportedContact": "contact.email is not accepted by the ACME server: set a real e-mail address",
    }
    return AcmeFailure(f"ACME error {kind or status}: {detail}",
                       hints.get(kind, "see the ACME server's message above; the server keeps its current "
                                       "certificate and tries again tomorrow"))


# -- the flow -------------------------------------------------------------------------------------------
def run(args, say, wait_ack):
    if args.renew_within_days is not None and os.path.isfile(DOMAIN_CHAIN_FILE):
        expiry = not_after_of(DOMAIN_CHAIN_FILE)
        if expiry is not None and expiry - time.time() > args.renew_within_days * 86400:
            say({"done": "not due", "not_after": expiry})
            return
    try:
        socket.getaddrinfo(args.domain, 80)
    except OSError as error:
        raise AcmeFailure(f"server.host {args.domain} does not resolve ({error})",
                          f"create a DNS A record for {args.domain} pointing to this server's public address, "
                          "or set server.host to a name that has one") from None
    acme = Acme(args.directory, AccountKey(load_or_create_key(USER_KEY_FILE, args.key_type)), args.ca_file,
                args.http_port)
    acme.account(args.email)
    domain_key = load_or_create_key(DOMAIN_KEY_FILE, args.key_type)
    order_url, order = acme.order(args.domain)

    def announce(token, content):
        say({"challenge": token, "content": content})
        wait_ack()
    for authz_url in order.get("authorizations", ()):
        acme.authorize(authz_url, announce)
    chain = acme.finalize(order_url, order, csr_der(args.domain, domain_key))
    write_atomically(DOMAIN_CHAIN_FILE, chain, mode=0o644)
    say({"done": "issued", "not_after": not_after_of(DOMAIN_CHAIN_FILE)})


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python3 -m blynklite.tls.acme_client")
    parser.add_argument("--directory", default=PRODUCTION)
    parser.add_argument("--email", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--ca-file")
    parser.add_argument("--key-type", choices=("rsa", "ec"), default="rsa")
    parser.add_argument("--renew-within-days", type=int)
    parser.add_argument("--http-port", type=int, default=8080, help="the server's plain port, for advice")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)

    def say(message):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def wait_ack():
        if not sys.stdin.readline():
            raise AcmeFailure("the server stopped before the challenge could be answered", "restart the server")
    try:
        run(args, say, wait_ack)
    except AcmeFailure as failure:
        say({"error": str(failure), "hint": failure.hint})
        return 1
    except ImportError as error:
        say({"error": f"cannot load {error.name}", "hint": "install the tls extra: pip install cryptography"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
