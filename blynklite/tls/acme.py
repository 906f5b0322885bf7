"""Let's Encrypt in the server (spec/behaviours.md §6; upstream AcmeClient, LetsEncryptHandler,
CertificateRenewalWorker): when automatic mode is on, get a certificate, answer http-01 challenges on
the plain port, renew daily 21 days before expiry, and hand new certificates to the TLS ports.

Owns: deciding automatic mode, the http-01 key authorizations being served, the daily renewal job,
and the one ACME child process at a time (tls/acme_client.py does the protocol and the crypto there,
so `cryptography` never loads into the server: idle RSS stays small). Never does: sockets or crypto.

Time: the first run is right after the listeners are up when fullchain.crt or privkey.pem is missing;
then every DAY from the reactor's clock (a run missed while the server was down simply happens a day
after the next start; the 21-day margin covers it). A run that fails leaves the current certificate
in use, says on the console and in the log what to do, and is tried again at the next daily run.

Invariant: new TLS connections get a new certificate only after the child wrote both files and they
load into an SSLContext; connections already open keep theirs.
"""
import json
import os
import sys

from ..logger import get_logger

log = get_logger("blynklite.acme")

CHALLENGE_PATH = "/.well-known/acme-challenge/"
DAY = 24 * 3600.0
RENEW_BEFORE_DAYS = 21                 # upstream CertificateRenewalWorker
# A whole run: account, order, up to 10 polls of 3 s twice (challenge and order), with margin.
CHILD_TIMEOUT = 300.0
CHALLENGE_SET_TIMEOUT = 10.0           # the reactor sets a challenge within this, or the run fails
SHIPPED_EMAIL = "example@gmail.com"    # upstream's mail.properties placeholder
CERT_FILE, KEY_FILE = "fullchain.crt", "privkey.pem"


def contact_email(config):
    """contact.email, else mail.smtp.username, unless a placeholder (upstream's rule)."""
    email = (config["contact.email"] or str(config.mail.get("mail.smtp.username", ""))).strip()
    if not email or email == SHIPPED_EMAIL or email.startswith("SMTP"):
        return None
    return email


def automatic_mode(config):
    """(e-mail, host) when upstream would run Let's Encrypt: no configured certificate, a host, an e-mail."""
    if config["server.ssl.cert"]:
        return None
    host = config["server.host"].strip()
    email = contact_email(config)
    return (email, host) if host and email else None


def start(server):
    """Called once the listeners are up: the LetsEncrypt object, or None when the mode is off."""
    mode = automatic_mode(server.config)
    if mode is None:
        return None
    acme = LetsEncrypt(server, *mode)
    if not (os.path.isfile(CERT_FILE) and os.path.isfile(KEY_FILE)):
        server.reactor.call_later(0, acme.run, None)
    if not server.config["renewal.disabled"]:
        server.reactor.call_every(DAY, acme.run, RENEW_BEFORE_DAYS)
    return acme


class LetsEncrypt:
    def __init__(self, server, email, host):
        self.server = server
        self.email = email
        self.host = host
        self.challenges = {}       # token -> key authorization, while a run needs them
        self.running = False

    # -- the plain port's /.well-known/acme-challenge/<token> -------------------------------------
    def challenge_content(self, token):
        return self.challenges.get(token)

    # -- one run ----------------------------------------------------------------------------------
    def run(self, renew_within_days):
        if self.running:
            return
        problem = name_problem(self.host)
        if problem is not None:
            report_failure(problem, "set server.host to the DNS name of this server (e.g. blynk.example.com)")
            return
        self.running = True
        log.info("Let's Encrypt: %s a certificate for %s (account %s) from %s",
                 "checking" if renew_within_days else "requesting", self.host, self.email,
                 self.server.config["acme.directory.url"])
        argv = child_argv(self.server.config, self.email, self.host, renew_within_days)
        if not self.server.workers.submit(self._talk_to_child, argv, on_done=self._finished):
            self.running = False

    def _talk_to_child(self, argv):
        """On a worker thread: run the child, serve its challenges through the reactor; its last message."""
        import subprocess
        import threading
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=child_env())
        timer = threading.Timer(CHILD_TIMEOUT, proc.kill)
        timer.start()
        last = None
        try:
            for line in proc.stdout:
                message = json.loads(line)
                if "challenge" in message:
                    served = threading.Event()
                    self.server.reactor.call_soon_threadsafe(self._serve, message, served)
                    served.wait(CHALLENGE_SET_TIMEOUT)
                    proc.stdin.write("ok\n")
                    proc.stdin.flush()
                else:
                    last = message
            stderr = proc.stderr.read()
            proc.wait()
        finally:
            timer.cancel()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                stream.close()
        if last is None:
            tail = stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            last = {"error": f"the ACME client stopped: {tail[0]}", "hint": "see the log above; try again later"}
        return last

    def _serve(self, message, served):
        self.challenges[message["challenge"]] = message["content"]
        served.set()

    def _finished(self, result, error):
        self.running = False
        self.challenges.clear()
        if error is not None:
            report_failure(f"the ACME client could not run: {error}", "check the installation (python3 -m "
                           "blynklite.tls.acme_client --help) and try again")
            return
        if "error" in result:
            report_failure(result["error"], result["hint"])
            return
        if result.get("done") == "not due":
            log.info("Let's Encrypt: the certificate for %s is valid for more than %d days; nothing to do",
                     self.host, RENEW_BEFORE_DAYS)
            return
        self._use_new_certificate()

    def _use_new_certificate(self):
        from .. import certs
        server = self.server
        try:
            fresh = certs.server_tls(server.config, server.store.folder, log)
            fresh.context()
        except certs.CertificateError as error:
            report_failure(f"the new certificate cannot be used: {error}", "delete fullchain.crt and privkey.pem "
                           "and restart the server to request a new one")
            return
        server.tls.use(fresh)
        message = f"Let's Encrypt: new certificate for {self.host} in use for new TLS connections ({CERT_FILE})"
        log.info("%s", message)
        print(message, flush=True)


def name_problem(host):
    """Why `host` cannot get a certificate before asking anyone, or None."""
    import ipaddress
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return f"server.host is the IP address {host}: Let's Encrypt certifies DNS names only"


def report_failure(what, hint):
    """On the console and in the log: what failed and what to do; the server keeps its certificate."""
    message = f"Let's Encrypt: {what}. What to do: {hint}. The server keeps serving with its current certificate."
    log.error("%s", message)
    print(message, flush=True)


def child_argv(config, email, host, renew_within_days):
    argv = [sys.executable or "python3", "-m", "blynklite.tls.acme_client", "--directory",
            config["acme.directory.url"], "--email", email, "--domain", host, "--key-type", config["acme.key.type"],
            "--http-port", str(config["http.port"])]
    if config["acme.ca.file"]:
        argv += ["--ca-file", os.path.abspath(config["acme.ca.file"])]
    if renew_within_days is not None:
        argv += ["--renew-within-days", str(renew_within_days)]
    return argv


def child_env():
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = package_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
