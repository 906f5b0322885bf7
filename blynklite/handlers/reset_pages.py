"""Password reset from the web (spec/behaviours.md §5.2): POST /resetPassword, GET /landing,
POST /updatePassword and GET /restore.

Owns: the four routes and their pages. The tokens live in the same pool as the app's reset tokens
(`password_reset.tokens_of`), 64 characters here, valid 45 minutes, used once. Never does: accept a
plain password; the landing page's form hashes it in the browser as the app does (spec/app.md §2.3),
so the server only ever sees and stores the hash.

Invariant: every answer about an account or token is one of upstream's fixed texts; the log line of
a refused request names neither the token nor the address.
"""
import re
from urllib.parse import parse_qs, quote

from ..hub import new_token
from .http_common import Reply, bad_request
from . import password_reset
from ..logger import get_logger

log = get_logger("blynklite.reset")

HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
WEB_TOKEN = re.compile(r"^[A-Za-z0-9_-]{64}$")     # two 32-character tokens, as upstream
MAX_FORM = 4096                                     # a reset form is two short fields
RESET_SUBJECT = "Password reset request for the {product} app."
RESET_BODY = ("<html><body><p>Hello,</p><p>a password reset was asked for your {product} account {email}.</p>"
              "<p><a href=\"{url}\">Choose a new password</a> (the link works once, for 45 minutes).</p>"
              "<p>If you did not ask for this, ignore this mail.</p></body></html>")
HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def _text(status, message):
    return Reply(status, message, TEXT_TYPE)


def _form(request):
    if len(request.body or b"") > MAX_FORM:
        return {}
    fields = parse_qs((request.body or b"").decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


class MailReply:
    """The HTTP answer is sent once the mail has gone (or failed), as upstream answers."""
    __slots__ = ("server", "to", "subject", "body")

    def __init__(self, server, to, subject, body):
        self.server, self.to, self.subject, self.body = server, to, subject, body

    def deliver(self, send):
        def sent(error):
            send(_text(200, "Email was sent.") if error is None else bad_request("Error sending reset email."))
        if not self.server.notifier.mail(self.to, self.subject, self.body, True, sent):
            send(bad_request("Error sending reset email."))


def reset_password(server, request):
    form = _form(request)
    email = (form.get("email") or "").strip().lower()
    app_name = form.get("appName") or "Blynk"
    from .app import valid_email
    if not valid_email(email):
        return bad_request(f"{email} email has not valid format.")
    if server.hub.get_user(email, app_name) is None:
        log.info("web reset refused: no such account")
        return bad_request("Sorry, this account does not exist.")
    pool = password_reset.tokens_of(server)
    now = server.reactor.wall_ms
    pool.purge(now)
    token = new_token() + new_token()
    pool.tokens[token] = (email, app_name, now)
    host = server.config["server.host"] or server.public_host()
    scheme = "https" if host.endswith(".blynk.cc") else "http"
    product = server.config["product.name"]
    body = RESET_BODY.format(product=product, email=email, url=f"{scheme}://{host}/landing?token={token}")
    log.info("%s asks for a password reset from the web.", email)
    return MailReply(server, email, RESET_SUBJECT.format(product=product), body)


def landing(server, request):
    token = request.query.get("token", [""])[0]
    if not WEB_TOKEN.match(token):
        return bad_request("Invalid request parameters.")
    entry = password_reset.tokens_of(server).get(token, server.reactor.wall_ms)
    if entry is None:
        return bad_request("Your token was not found or it is outdated. Please try again.")
    page = LANDING_PAGE.replace("{EMAIL}", entry[0].translate(HTML_ESCAPES)).replace("{TOKEN}", token)
    return Reply(200, page, HTML_TYPE)


def update_password(server, request):
    form = _form(request)
    token, password_hash = form.get("token") or "", form.get("password") or ""
    pool = password_reset.tokens_of(server)
    entry = pool.get(token, server.reactor.wall_ms) if WEB_TOKEN.match(token) else None
    if entry is None or not password_hash:
        log.info("web reset refused: token unknown, expired or used")
        return bad_request("Invalid token. Please repeat all steps.")
    user = server.hub.get_user(entry[0], entry[1])
    if user is None:
        return Reply(404, "", TEXT_TYPE)
    user.password = password_hash
    user.last_modified_ts = server.reactor.wall_ms
    server.hub.mark_dirty(user)
    del pool.tokens[token]
    log.info("%s changed the password from the web.", entry[0])
    return _text(200, "Password was successfully reset.")


def restore(server, request):
    token = request.query.get("token", [""])[0]
    email = request.query.get("email", [""])[0]
    from .app import valid_email
    if not WEB_TOKEN.match(token) or (email and not valid_email(email)):
        return bad_request("Invalid request parameters.")
    link = f"http://{server.config['restore.host']}/restore?token={token}"
    if email:
        link += "&email=" + quote(email, safe="@")
    return Reply(200, RESTORE_PAGE.replace("{LINK}", link.translate(HTML_ESCAPES)), HTML_TYPE)


ROUTES = (
    ("POST", "/resetPassword", reset_password),
    ("GET", "/landing", landing),
    ("POST", "/updatePassword", update_password),
    ("GET", "/restore", restore),
)

RESTORE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Restore password</title></head>
<body style="font-family: sans-serif; max-width: 30em; margin: 3em auto">
<h1>Restore your password</h1>
<p><a href="{LINK}" style="padding: .6em 1.2em; background: #24C48E; color: #fff; text-decoration: none">
Open in the app</a></p></body></html>
"""

# The form hashes the new password as the app does: Base64(SHA-256(password ‖ SHA-256(lower(email)))),
# with a small SHA-256 of its own because browsers offer crypto.subtle only on https or localhost.
LANDING_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>New password</title></head>
<body style="font-family: sans-serif; max-width: 30em; margin: 3em auto">
<h1>New password for {EMAIL}</h1>
<form id="f" method="post" action="/updatePassword">
<p><label>New password <input id="p1" type="password" required minlength="1" autocomplete="new-password"></label></p>
<p><label>Repeat it <input id="p2" type="password" required autocomplete="new-password"></label></p>
<input type="hidden" name="token" value="{TOKEN}"><input type="hidden" name="password" id="hash">
<input type="hidden" id="email" value="{EMAIL}">
<p id="msg" style="color: #c00"></p><button type="submit">Set password</button></form>
<script>
var EMAIL = document.getElementById("email").value;
function utf8(s) { return Array.from(new TextEncoder().encode(s)); }
function sha256(bytes) {
  var K = [], H = [], i, j, p = 2;
  function frac(x) { return (x - Math.floor(x)) * 4294967296 | 0; }
  for (i = 0; i < 64; p++) {
    for (j = 2; j * j <= p && p % j; j++) {}
    if (j * j > p) { if (i < 8) H[i] = frac(Math.pow(p, 1 / 2)); K[i++] = frac(Math.pow(p, 1 / 3)); }
  }
  var m = bytes.slice(), bits = m.length * 8;
  m.push(0x80); while (m.length % 64 != 56) m.push(0);
  for (i = 7; i >= 0; i--) m.push(i > 3 ? 0 : (bits >>> (i * 8)) & 255);
  function r(x, n) { return (x >>> n) | (x << (32 - n)); }
  for (var o = 0; o < m.length; o += 64) {
    var w = [], a = H.slice();
    for (i = 0; i < 64; i++) {
      if (i < 16) w[i] = m[o + 4 * i] << 24 | m[o + 4 * i + 1] << 16 | m[o + 4 * i + 2] << 8 | m[o + 4 * i + 3];
      else w[i] = (r(w[i - 15], 7) ^ r(w[i - 15], 18) ^ (w[i - 15] >>> 3)) + w[i - 16]
             + (r(w[i - 2], 17) ^ r(w[i - 2], 19) ^ (w[i - 2] >>> 10)) + w[i - 7] | 0;
      var t1 = a[7] + (r(a[4], 6) ^ r(a[4], 11) ^ r(a[4], 25)) + (a[4] & a[5] ^ ~a[4] & a[6]) + K[i] + w[i] | 0;
      var t2 = (r(a[0], 2) ^ r(a[0], 13) ^ r(a[0], 22)) + (a[0] & a[1] ^ a[0] & a[2] ^ a[1] & a[2]) | 0;
      a = [t1 + t2 | 0].concat(a.slice(0, 3), [a[3] + t1 | 0], a.slice(4, 7));
    }
    for (i = 0; i < 8; i++) H[i] = H[i] + a[i] | 0;
  }
  var out = [];
  for (i = 0; i < 32; i++) out.push((H[i >> 2] >>> (24 - 8 * (i & 3))) & 255);
  return out;
}
function passwordHash(password, email) {
  var digest = sha256(utf8(password).concat(sha256(utf8(email.toLowerCase()))));
  return btoa(String.fromCharCode.apply(null, digest));
}
document.getElementById("f").addEventListener("submit", function (e) {
  var p1 = document.getElementById("p1").value, p2 = document.getElementById("p2").value;
  if (p1 !== p2) { e.preventDefault(); document.getElementById("msg").textContent = "The passwords differ."; return; }
  document.getElementById("hash").value = passwordHash(p1, EMAIL);
});
</script></body></html>
"""
