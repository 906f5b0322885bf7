"""Password reset from the app, before login (spec/behaviours.md §5.1): RESET_PASSWORD start/verify/reset.

Owns: the pool of reset tokens (32 characters, valid RESET_TOKEN_LIFETIME_MS, used once, kept in
POOL_FILE over a restart), the two reset
mails (the link to `http://<restore.host>/restore?...`, then the confirmation) and the welcome mail a
new account of the standard app gets. Never does: tell a stranger
whether an account exists beyond upstream's own answer (ILLEGAL_COMMAND for both a malformed and an
unknown address); the log names neither the token nor the address of a refused request.

Invariant: a token leaves the pool when it is used or when it has expired; expired ones are purged
whenever the pool is touched, so it never holds more than the resets of the last 45 minutes.
"""
import json
import os
from urllib.parse import quote

from ..storage.atomicfile import write_atomically
from ..codec.commands import Command, Status, illegal_command, not_allowed
from ..hub import new_token
from ..logger import get_logger

log = get_logger("blynklite.reset")

RESET_TOKEN_LIFETIME_MS = 45 * 60 * 1000    # upstream's TokensPool keeps a token 45 minutes
# Pending tokens outlive a restart: saved here at shutdown, read and deleted at start (spec/storage.md §1).
POOL_FILE = ("data", "tokens_pool_temp.bin")
RESET_QR_NAME = "resetPassQr.png"       # upstream attaches resetPassQr.jpg; ours is the same code as PNG
RESET_SUBJECT = "Password restoration for your {product} account."
CONFIRM_SUBJECT = "Your new password on {product}"
RESET_BODY = ("<html><body><p>Hello,</p><p>you asked to reset the password of your {product} account.</p>"
              "<p><a href=\"{url}\">Reset your password</a> (the link works once, for 45 minutes).</p>"
              "<p>If you did not ask for this, ignore this mail.</p></body></html>")
WELCOME_SUBJECT = "Get started with Blynk"     # upstream's greeting, sent to new accounts of the Blynk app
WELCOME_BODY = ("<html><body><p>Welcome to {product}!</p><p>Your account {email} is ready on this server. "
                "Create a project in the app, add a device and put its auth token in your sketch.</p>"
                "<p>Getting Started Guide: https://www.blynk.cc/getting-started</p></body></html>")
CONFIRM_BODY = ("<html><body><p>Hello,</p><p>the password of your {product} account {email} was changed."
                "</p></body></html>")


class ResetTokens:
    """token → (email, app name, issued at in wall-clock ms from the reactor, so it survives a restart)."""
    __slots__ = ("tokens",)

    def __init__(self):
        self.tokens = {}

    def purge(self, now):
        for token, (_, _, issued) in list(self.tokens.items()):
            if now - issued > RESET_TOKEN_LIFETIME_MS:
                del self.tokens[token]

    def has_token_for(self, email, app_name):
        return any(e == email and a == app_name for e, a, _ in self.tokens.values())

    def add(self, email, app_name, now):
        token = new_token()
        self.tokens[token] = (email, app_name, now)
        return token

    def get(self, token, now):
        self.purge(now)
        return self.tokens.get(token)


def save_pool(server):
    """At shutdown: the pending tokens to POOL_FILE (nothing, and no file, when none are pending)."""
    pool = getattr(server, "reset_tokens", None)
    if pool is None:
        return
    pool.purge(server.reactor.wall_ms)
    if not pool.tokens:
        return
    path = os.path.join(server.store.folder, *POOL_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = {token: list(entry) for token, entry in pool.tokens.items()}
    write_atomically(path, json.dumps(data).encode("utf-8"), 0o600)
    log.info("%d pending password reset token(s) saved", len(data))


def load_pool(server):
    """At start: the tokens saved at the last shutdown (the file is deleted once read)."""
    path = os.path.join(server.store.folder, *POOL_FILE)
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
        pool = tokens_of(server)
        for token, (email, app_name, issued) in data.items():
            pool.tokens[str(token)] = (str(email), str(app_name), int(issued))
        pool.purge(server.reactor.wall_ms)
    except FileNotFoundError:
        return
    except (OSError, ValueError, TypeError, AttributeError) as error:
        log.warning("%s is unreadable (%s); pending password resets are lost", path, error)
    try:
        os.unlink(path)
    except OSError:
        pass


def tokens_of(server):
    """The server's reset-token pool, made at the first reset request."""
    pool = getattr(server, "reset_tokens", None)
    if pool is None:
        pool = server.reset_tokens = ResetTokens()
    return pool


def reset_password(session, msg_id, text):
    parts = text.split("\0")
    action = ACTIONS.get(parts[0])
    if action is None:
        log.info("%s: unknown reset action", session.describe())     # upstream: no reply
        return
    needed = 2 if parts[0] == "verify" else 3
    if len(parts) < needed:
        raise illegal_command("reset password: missing fields")
    action(session, msg_id, parts)


def start(session, msg_id, parts):
    from .app import valid_email
    server = session.server
    email, app_name = parts[1].strip().lower(), parts[2]
    if not valid_email(email) or server.hub.get_user(email, app_name) is None:
        log.info("%s: reset refused (address malformed or no such account)", session.describe())
        raise illegal_command("no such account")
    pool = tokens_of(server)
    now = server.reactor.wall_ms
    if pool.has_token_for(email, app_name):
        pool.purge(now)
        raise not_allowed("a reset is already pending")
    token = pool.add(email, app_name, now)
    product = server.config["product.name"]
    url = f"http://{server.config['restore.host']}/restore?token={token}&email={quote(email, safe='@')}"
    body = RESET_BODY.format(product=product, url=url)
    from ..qrcode import qr_png          # the app scans this to open its reset screen (upstream: a JPEG)
    qr = qr_png(f"{app_name.lower()}://restore?token={token}&email={quote(email, safe='')}")
    log.info("%s asks for a password reset.", email)
    queued = server.notifier.mail(email, RESET_SUBJECT.format(product=product), body, True,
                                  lambda error: session.respond(
                                      msg_id, Status.OK if error is None else Status.SERVER_ERROR),
                                  attachments=((RESET_QR_NAME, qr, "image/png"),))
    if not queued:
        session.respond(msg_id, Status.SERVER_ERROR)


def verify(session, msg_id, parts):
    if tokens_of(session.server).get(parts[1], session.server.reactor.wall_ms) is None:
        log.info("%s: reset token unknown or expired", session.describe())
        raise not_allowed("reset token unknown or expired")
    session.ok(msg_id)


def reset(session, msg_id, parts):
    server = session.server
    pool = tokens_of(server)
    entry = pool.get(parts[1], server.reactor.wall_ms)
    if entry is None:
        log.info("%s: reset token unknown or expired", session.describe())
        raise not_allowed("reset token unknown or expired")
    email, app_name, _ = entry
    user = server.hub.get_user(email, app_name)
    if user is None:
        log.warning("%s: the account of a reset token is gone", session.describe())
        session.respond(msg_id, Status.SERVER_ERROR)
        return
    user.password = parts[2]
    user.last_modified_ts = server.reactor.wall_ms
    server.hub.mark_dirty(user)
    del pool.tokens[parts[1]]
    product = server.config["product.name"]
    server.notifier.mail(email, CONFIRM_SUBJECT.format(product=product),
                         CONFIRM_BODY.format(product=product, email=email), True)
    log.info("%s changed the password by a reset.", email)
    session.ok(msg_id)


def welcome_mail(server, email, app_name):
    """REGISTER of the standard app: a greeting, when mail is configured (its failure only logged)."""
    if app_name != "Blynk" or not server.notifier.mail_settings().configured:
        return
    product = server.config["product.name"]
    server.notifier.mail(email, WELCOME_SUBJECT, WELCOME_BODY.format(product=product, email=email), True)


ACTIONS = {"start": start, "verify": verify, "reset": reset}
HANDLERS = {Command.RESET_PASSWORD: reset_password}
