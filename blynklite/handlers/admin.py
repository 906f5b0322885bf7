"""The admin area on the TLS port (spec/http-api.md §4): sign-in, users, statistics, settings.

Owns: the `allowed.administrator.ips` filter, admin sign-in sessions (cookies, in memory as
upstream), the per-address lockout after repeated failed sign-ins, and the JSON endpoints the admin
page uses. Never does: socket I/O; `handle()` returns a Reply like every HTTP handler.

Security rules kept here: cookies are HttpOnly, Secure and SameSite=Strict, so another site can
neither read nor send them; admin replies carry no CORS header; a request without a valid cookie
gets 404, as upstream, so the area does not reveal itself.
"""
import ipaddress
import json
import os
import time
import urllib.parse

from ..config import ConfigError, escape_value, save_properties
from ..passwords import password_hash, same_hash
from . import http_common as H
from . import static_files
from .admin_stats import AdminStats
from ..logger import get_logger

log = get_logger("blynklite.admin")

COOKIE_NAME = "session"
SESSION_SECONDS = 30 * 24 * 3600          # upstream's cookie lifetime: a month
LOCKOUT_FAILURES = 5                      # failed sign-ins from one address ...
LOCKOUT_SECONDS = 15 * 60                 # ... lock it out for this long
SERVER_PROPERTIES = "server.properties"
# The pages load only their own files and may not be framed by another site.
PAGE_HEADERS = [("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
                ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer")]
CONFIG_NAMES = (SERVER_PROPERTIES, "mail.properties", "gcm.properties", "db.properties",
                "twitter4j.properties", "token_mail_body.txt")


def parse_networks(text):
    """`allowed.administrator.ips` → networks; a bad entry is logged and skipped."""
    networks = []
    for entry in (e.strip().lower() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.error("allowed.administrator.ips: %r is not an IP address or CIDR range; ignored", entry)
    return networks


def address_in(ip, networks):
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped      # dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d
    return any(address in network for network in networks)


class AdminArea:
    def __init__(self, server):
        self.server = server
        self.stats = AdminStats(server)
        self.sessions = {}                # cookie value -> (user key, expiry)
        self.failures = {}                # ip -> (count, locked until)
        self._networks_text = None
        self._networks = []
        self.router = H.Router()
        root = self.root
        for method, path, handler in self.routes():
            self.router.add(method, root + path, handler)

    @property
    def root(self):
        return self.server.config["admin.rootPath"].rstrip("/")

    def routes(self):
        return (
            ("GET", "/users", self.list_users),
            ("GET", "/users/names/getAll", self.user_names),
            ("GET", "/users/token/assign", self.assign_token),
            ("GET", "/users/{id}", self.get_user),
            ("PUT", "/users/{id}", self.update_user),
            ("DELETE", "/users/{id}", self.delete_user),
            ("POST", "/changePassword", self.change_password),
            ("GET", "/stats/realtime", self.stats.realtime),
            ("GET", "/stats/messages", self.stats.messages),
            ("GET", "/stats/requestsPerUser", self.stats.requests_per_user),
            ("GET", "/stats/connections", self.stats.connections),
            ("GET", "/stats/ips", self.stats.ips),
            ("GET", "/config", self.list_configs),
            ("GET", "/config/{name}", self.get_config),
            ("PUT", "/config/{name}", self.put_config),
        )

    # -- access -----------------------------------------------------------------------------------
    def ip_allowed(self, ip):
        text = self.server.config["allowed.administrator.ips"]
        if text != self._networks_text:
            self._networks_text, self._networks = text, parse_networks(text)
        return address_in(ip, self._networks)

    def handle(self, request, ip):
        path = request.path.rstrip("/") or "/"
        if path == self.root and request.method in ("GET", "HEAD"):
            page = static_files.serve("admin.html" if self.signed_in(request) else "login.html", cache=False)
            page.headers += PAGE_HEADERS
            return page
        if path == self.root + "/login" and request.method == "POST":
            return self.sign_in(request, ip)
        if path == self.root + "/logout" and request.method == "POST":
            return self.sign_out(request)
        if path.startswith(self.root + "/ota/") or path == self.root + "/upload":
            from . import ota      # Basic auth as upstream, or the admin page's cookie
            return ota.handle(self, request, path[len(self.root):], self.signed_in(request), ip)
        user = self.signed_in(request)
        if user is None:
            return H.not_found()
        handler, params = self.router.match(request.method, path)
        if handler is None:
            return H.not_found()
        try:
            return handler(request, user, **params)
        except H.HttpProblem as problem:
            return problem.reply
        except Exception:
            log.exception("admin %s %s failed", request.method, path)
            return H.server_error("Internal server error.")

    # -- signing in -------------------------------------------------------------------------------
    def sign_in(self, request, ip):
        now = time.monotonic()
        count, locked_until = self.failures.get(ip, (0, 0.0))
        if locked_until > now:
            log.warning("admin sign-in from %s refused: locked out after %d failures", ip, count)
            return H.redirect(self.root + "?locked")
        form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"))
        email = (form.get("email") or [""])[0].strip().lower()
        offered = (form.get("password") or [""])[0]
        user = self.server.hub.get_user(email, "Blynk")
        if user is None or not user.is_super_admin or not user.password or not same_hash(user.password, offered):
            count += 1
            self.failures[ip] = (count, now + LOCKOUT_SECONDS if count >= LOCKOUT_FAILURES else 0.0)
            log.warning("admin sign-in failed for %r from %s (%d in a row)", email, ip, count)
            return H.redirect(self.root + "?failed")
        self.failures.pop(ip, None)
        cookie = os.urandom(24).hex()
        self.sessions[cookie] = (user.key, now + SESSION_SECONDS)
        log.info("admin %s signed in from %s", email, ip)
        return H.redirect(self.root, [("Set-Cookie", self.cookie(cookie, SESSION_SECONDS))])

    def sign_out(self, request):
        self.sessions.pop(self.cookie_of(request), None)
        return H.redirect(self.root, [("Set-Cookie", self.cookie("", 0))])

    def cookie(self, value, max_age):
        return f"{COOKIE_NAME}={value}; Max-Age={max_age}; Path={self.root}; HttpOnly; Secure; SameSite=Strict"

    @staticmethod
    def cookie_of(request):
        for header in (request.header("cookie") or "").split(";"):
            name, _, value = header.strip().partition("=")
            if name == COOKIE_NAME:
                return value
        return None

    def signed_in(self, request):
        entry = self.sessions.get(self.cookie_of(request))
        if entry is None:
            return None
        key, expiry = entry
        user = self.server.hub.users.get(key)
        if expiry < time.monotonic() or user is None or not user.is_super_admin:
            self.sessions.pop(self.cookie_of(request), None)
            return None
        return user

    # -- users ------------------------------------------------------------------------------------
    def list_users(self, request, admin):
        part = _filter(request, "name")
        users = [u.to_json() for u in self.server.hub.users.values() if not part or part in u.email]
        return page_of(request, users)

    def user_names(self, request, admin):
        return H.ok([{"email": u.email, "appName": u.app_name} for u in self.server.hub.users.values()])

    def get_user(self, request, admin, id):
        return H.ok(self.user_by_id(id).to_json())

    def update_user(self, request, admin, id):
        data = H.json_body(request, dict)
        user = self.user_by_id(id)
        email = str(data.get("email") or user.email).strip().lower()
        new_pass = data.get("pass", user.password)
        if email != user.email and new_pass == user.password:
            return H.bad_request("You need also change password when changing email.")
        from .app import valid_email
        if not valid_email(email):
            return H.bad_request("Wrong email address.")
        hub = self.server.hub
        if email != user.email and hub.get_user(email, user.app_name) is not None:
            return H.bad_request("A user with this email already exists.")
        if new_pass != user.password:
            user.password = password_hash(str(new_pass), email)
        for field, attr in (("name", "name"), ("energy", "energy"), ("isSuperAdmin", "is_super_admin")):
            if field in data:
                setattr(user, attr, data[field])
        if email != user.email:
            self.server.rename_user(user, email)
        user.last_modified_ts = self.server.reactor.wall_ms
        hub.mark_dirty(user)
        log.info("admin %s updated user %s", admin.email, user.email)
        return H.ok(user.to_json())

    def delete_user(self, request, admin, id):
        user = self.user_by_id(id)
        if user is admin:
            return H.bad_request("You cannot delete your own account.")
        self.server.delete_user(user)
        log.info("admin %s deleted user %s", admin.email, user.email)
        return H.ok()

    def change_password(self, request, admin):
        form = H.json_body(request, dict)
        current, new = str(form.get("current") or ""), str(form.get("new") or "")
        if not same_hash(admin.password, password_hash(current, admin.email)):
            return H.bad_request("The current password is wrong.")
        if len(new) < 8:
            return H.bad_request("The new password must have at least 8 characters.")
        admin.password = password_hash(new, admin.email)
        admin.last_modified_ts = self.server.reactor.wall_ms
        self.server.hub.mark_dirty(admin)
        log.info("admin %s changed the administrator password", admin.email)
        return H.ok()

    def assign_token(self, request, admin):
        old = (request.query.get("old") or [""])[0]
        new = (request.query.get("new") or [""])[0]
        ref = self.server.hub.resolve_token(old)
        if ref is None:
            return H.bad_request("This token not exists.")
        if len(new) != 32 or self.server.hub.resolve_token(new) is not None:
            return H.bad_request("The new token must be 32 characters and unused.")
        self.server.hub.set_token(ref.user, ref.dash, ref.device, new)
        return H.ok()

    def user_by_id(self, id):
        email, _, app_name = urllib.parse.unquote(id).rpartition("-")
        user = self.server.hub.get_user(email, app_name)
        if user is None:
            raise H.HttpProblem(H.not_found())
        return user

    # -- configuration ----------------------------------------------------------------------------
    def list_configs(self, request, admin):
        return page_of(request, [{"name": name} for name in CONFIG_NAMES])

    def get_config(self, request, admin, name):
        if name != SERVER_PROPERTIES:
            if name not in CONFIG_NAMES:
                return H.bad_request("Unsupported configuration.")
            return H.ok({"name": name, "body": ""})
        body = "".join(f"{k}={escape_value(v)}\n" for k, v in sorted(self.server.config.raw().items()))
        return H.ok({"name": name, "body": body})

    def put_config(self, request, admin, name):
        data = H.json_body(request, dict)
        if name != SERVER_PROPERTIES:
            return H.bad_request("Only server.properties can be changed here.")
        from ..config import parse_properties
        config = self.server.config
        changes = {k: v for k, v in parse_properties(str(data.get("body") or "")).items()
                   if config.raw().get(k) != v}
        try:
            warnings = config.update(changes, "admin page")
        except ConfigError as error:
            return H.bad_request(str(error))
        path = self.server.properties_path()
        if changes:
            save_properties(path, changes)
            log.info("admin %s changed %s in %s", admin.email, ", ".join(sorted(changes)), path)
        return H.ok({"name": name, "body": data.get("body"), "changed": sorted(changes),
                     "warnings": warnings, "file": path})


def _filter(request, field):
    raw = (request.query.get("_filters") or [""])[0]
    try:
        filters = json.loads(raw) if raw else {}
    except ValueError:
        return None
    value = filters.get(field) if isinstance(filters, dict) else None
    return str(value).lower() if value else None


def page_of(request, rows):
    """ng-admin paging and sorting (`_page`, `_perPage`, `_sortField`, `_sortDir`), X-Total-Count."""
    query = request.query
    field = (query.get("_sortField") or [None])[0]
    if field:
        descending = (query.get("_sortDir") or ["ASC"])[0].upper() == "DESC"
        rows = sorted(rows, key=lambda r: (r.get(field) is None, str(r.get(field))), reverse=descending)
    total = len(rows)
    try:
        page, per_page = int((query.get("_page") or ["0"])[0]), int((query.get("_perPage") or ["0"])[0])
    except ValueError:
        page = per_page = 0
    if page > 0 and per_page > 0:
        rows = rows[(page - 1) * per_page:page * per_page]
    reply = H.ok(rows)
    reply.headers.append(("X-Total-Count", str(total)))
    return reply
