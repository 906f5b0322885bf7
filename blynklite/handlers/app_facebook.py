"""Facebook login (LOGIN whose 5th field is `facebook`, spec/app.md §2): the app's Facebook access token is
checked against Facebook's Graph API on a worker, as upstream's MobileLoginHandler does.

Owns: the Graph request and the answer to it. Never: touches the model off the reactor thread, or logs the
token. Upstream's answers: any failure of the check (an HTTP error, no network, a body that is not JSON) is
NOT_ALLOWED and the connection stays open; a token whose e-mail is not the one logging in gets no answer;
a verified e-mail logs in to its `Blynk` account, created without a password when there is none.
Invariant: a failed check counts as a failed login in the login guard.
"""
import json
import urllib.error
import urllib.parse
import urllib.request

from ..codec.commands import Status
from ..logger import get_logger
from ..sessions import login_guard

log = get_logger("blynklite.app.facebook")

ACCOUNT_APP_NAME = "Blynk"  # upstream looks up and creates Facebook accounts under the Blynk app
GRAPH_URL = "https://graph.facebook.com/me?fields=email&access_token="   # upstream's URL
GRAPH_TIMEOUT = 10.0        # seconds; the check holds a worker, and the app gives up on its login long before
MAX_REPLY = 64 * 1024       # bytes read of Facebook's answer: it is a tiny JSON object


def login(session, msg_id, email, parts, complete):
    """Start the check; `complete(session, msg_id, user, parts)` finishes a verified login."""
    server, ip = session.server, session.conn.peer[0]

    def done(result, error):
        if session.conn.closed or session.user is not None:   # gone, or logged in meanwhile
            return
        verified = None if error is not None else result
        if verified is None:
            log.warning("Facebook check failed for a login from %s: %s", ip, error or "no e-mail in reply")
            server.login_guard.failed(login_guard.APP, ip, email, "facebook check failed")
            session.respond(msg_id, Status.NOT_ALLOWED)
            return
        if verified.lower() != email:
            log.warning("Facebook token from %s is not for the e-mail it logs in with; no answer, as upstream", ip)
            server.login_guard.failed(login_guard.APP, ip, email, "facebook e-mail differs")
            return
        user = server.hub.get_user(email, ACCOUNT_APP_NAME)
        if user is None:
            user = server.hub.create_user(email, ACCOUNT_APP_NAME, None, server.reactor.wall_ms)
            user.is_facebook_user = True
            log.info("Registered Facebook user %s.", email)
        server.login_guard.succeeded(login_guard.APP, email)
        complete(session, msg_id, user, parts)

    if not server.workers.submit(graph_email, parts[1], on_done=done):
        done(None, RuntimeError("worker queue full"))


def graph_email(token):
    """On a worker: the e-mail Facebook gives for `token` (raises on any failure, as upstream answers then)."""
    url = GRAPH_URL + urllib.parse.quote(token, safe="")
    try:
        with urllib.request.urlopen(url, timeout=GRAPH_TIMEOUT) as reply:
            body = reply.read(MAX_REPLY)
    except urllib.error.HTTPError as error:
        reason = "token expired" if b"expired" in error.read(MAX_REPLY) else f"HTTP {error.code}"
        raise RuntimeError(reason) from None
    email = json.loads(body).get("email")
    if not isinstance(email, str):
        raise ValueError("no e-mail in Facebook's reply")
    return email
