"""The app side (spec/app.md §2–4): AppSession, pre-login commands, control and sync commands.

Profile editing (dashboards, widgets, devices) lives in `app_profile`; both register handlers in
the tables at the bottom of this module.
"""
import re

from ..codec import frames
from ..codec.body import parse_int, parse_target, split
from ..codec.commands import Command, MsgId, Status, StatusError, illegal_body, illegal_command, not_allowed
from ..automation import targets
from ..passwords import same_hash
from ..sessions.binary import BinarySession, ping
from .app_profile import dashboard_or_fail
from ..sessions import login_guard
from . import app_selector
from . import app_profile, app_sharing, app_tiles, password_reset, pins, sync
from .first_use import on_first_use
from ..model.watchers import APP
from ..logger import get_logger

log = get_logger("blynklite.app")

# Upstream checks the top-level domain against IANA's list; we only ask for an alphabetic one, so a
# local server accepts the short test addresses (`a@b.c`) its users type.
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                           r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]+$")
APP_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9 ._-]{0,99}$")
OUTDATED_VERSION = "1.1.1"
OUTDATED_TEXT = ("Your app is outdated. Please update to the latest app version. "
                 "Ignoring this notice may affect your projects.")
# handlers/history.py's commands; the four report codes (77-80) have no name in codec/commands.py
HISTORY_COMMANDS = (Command.GET_ENHANCED_GRAPH_DATA, Command.DELETE_ENHANCED_GRAPH_DATA, Command.DELETE_DEVICE_DATA,
                    Command.EXPORT_GRAPH_DATA, 77, 78, 79, 80)


class AppSession(BinarySession):
    MAX_BODY = frames.APP_MAX_BODY
    __slots__ = ("user", "os_name", "version", "share_dash_id", "registered")

    def __init__(self, server, conn, decoder=None, framing=None):
        super().__init__(server, conn, decoder or frames.app_decoder(frames.PRE_LOGIN_MAX_BODY),
                         framing or frames.APP)
        self.user = None
        self.os_name = self.version = None
        self.share_dash_id = None
        self.registered = False
        conn.idle_timeout = server.config["app.socket.idle.timeout"]
        conn.coalesce = True

    def handle(self, command, msg_id, size, body):
        if self.user is not None:
            self.server.app_total += 1      # upstream's appTotal: every app message after login
            BinarySession.handle(self, command, msg_id, size, body)
            return
        handler = self.pre_login.get(command)
        if handler is None:
            if command == Command.REGISTER:
                self.respond(msg_id, Status.NOT_ALLOWED)
            self.close(f"command {command} before login")
            return
        self.run_handler(handler, msg_id, str(body, "utf-8", "replace"))

    def describe(self):
        who = self.user.email if self.user else "unauthenticated"
        return f"app {who} {self.conn.peer[0]}"

    def connection_lost(self, reason):
        if self.user is not None:
            self.server.app_left(self)

    def become_share(self, user, dash):
        """SHARE_LOGIN succeeded: this connection is a share session of `dash` from now on."""
        from ..sessions.share import ShareSession
        self.__class__ = ShareSession
        self.user, self.share_dash_id = user, dash.id
        self.logged_in()
        self.server.hub.session(user).apps.append(self)


def valid_email(email):
    """Upstream's rule, and no slash: the e-mail is part of the profile's file name."""
    return 0 < len(email) <= 255 and "?" not in email and "/" not in email and \
        EMAIL_PATTERN.match(email) is not None


def valid_app_name(name):
    """The app name is the other part of the profile's file name: `Blynk` or a published app's id."""
    return APP_NAME_PATTERN.match(name) is not None


# -- before login ----------------------------------------------------------------------------------
def get_server(session, msg_id, text):
    parts = split(text)
    if len(parts) < 2 or not parts[1] or len(parts[1]) > 100:
        raise illegal_command("getServer needs email and app name")
    if not valid_email(parts[0].strip().lower()):
        raise illegal_body("invalid email")
    session.send(Command.GET_SERVER, msg_id, session.server.public_host())


def register(session, msg_id, text):
    if session.registered:
        session.respond(msg_id, Status.NOT_ALLOWED)
        session.close("second register")
        return
    if not session.server.registration_allowed():   # upstream checks the hourly limit first
        raise not_allowed("hourly registration limit reached")
    if not session.server.login_guard.registration_allowed(session.conn.peer[0]):
        session.refuse(msg_id, Status.QUOTA_LIMIT, "registrations from this address")
        return
    parts = text.split("\0", 2)
    if len(parts) < 3:
        raise illegal_command("register needs email, password and app name")
    email, password_hash, app_name = parts[0].strip().lower(), parts[1], parts[2]
    if not valid_email(email) or not password_hash:
        raise illegal_command("invalid email")
    if not valid_app_name(app_name):
        raise illegal_command("invalid app name")
    hub = session.server.hub
    if hub.get_user(email, app_name) is not None:
        raise StatusError(Status.USER_ALREADY_REGISTERED)
    allowed = session.server.config["allowed.users.list"]
    if allowed and email not in {e.strip().lower() for e in allowed.split(",") if e.strip()}:
        log.warning("%s is not in allowed.users.list; registration refused", email)
        raise not_allowed("not in allowed.users.list")
    user = hub.create_user(email, app_name, password_hash, session.server.reactor.wall_ms)
    user.ip = session.server.public_host()
    session.registered = True
    log.info("Registered %s.", email)
    session.ok(msg_id)
    from . import app_publisher     # the welcome mail, or an exported app's project: loaded at the first sign-up
    app_publisher.account_created(session.server, user)


def login(session, msg_id, text):
    parts = split(text)
    if len(parts) < 2:
        raise illegal_command("login needs email and password")
    email = parts[0].lower()
    app_name = parts[4] if len(parts) == 5 else "Blynk"
    guard, ip = session.server.login_guard, session.conn.peer[0]
    if guard.blocked(login_guard.APP, ip, email):
        session.refuse(msg_id, Status.QUOTA_LIMIT, "login blocked")
        return
    if len(parts) == 5 and parts[4] == "facebook":   # upstream's AppNameUtil.FACEBOOK
        from . import app_facebook      # loaded at the first Facebook login
        app_facebook.login(session, msg_id, email, parts, logged_in)
        return
    user = session.server.hub.get_user(email, app_name)
    if user is None:
        guard.failed(login_guard.APP, ip, email, f"no account {email}")
        session.refuse(msg_id, Status.USER_NOT_REGISTERED, "login failed")
        return
    if not user.password:
        raise StatusError(Status.FACEBOOK_USER_LOGIN_WITH_PASS)
    if not same_hash(user.password, parts[1]):
        guard.failed(login_guard.APP, ip, email, f"wrong password for {email}")
        session.refuse(msg_id, Status.USER_NOT_AUTHENTICATED, "login failed")
        return
    guard.succeeded(login_guard.APP, email)
    logged_in(session, msg_id, user, parts)


def logged_in(session, msg_id, user, parts):
    """A login that passed its check (a password, or Facebook's word): the session becomes the user's app."""
    if len(parts) >= 4:
        session.os_name, session.version = parts[2], parts[3]
    session.user = user
    session.ok(msg_id)
    session.server.app_joined(session)
    if session.version == OUTDATED_VERSION:
        session.send(Command.OUTDATED_APP_NOTIFICATION, msg_id, OUTDATED_TEXT)


PRE_LOGIN = {Command.GET_SERVER: get_server, Command.REGISTER: register, Command.LOGIN: login,
             Command.SHARE_LOGIN: app_sharing.share_login, Command.RESET_PASSWORD: password_reset.reset_password}
AppSession.pre_login = PRE_LOGIN


# -- after login -----------------------------------------------------------------------------------
def hardware(session, msg_id, text):
    target_field, sep, pin_command = text.partition("\0")
    if not sep:
        log.debug("%s: hardware body without a separator", session.describe())
        return
    dash_id, target_id = parse_target(target_field)
    dash = dashboard_or_fail(session, dash_id)
    if not dash.is_active:
        return
    device_ids = targets.device_ids(dash, target_id)
    if not device_ids or len(pin_command) < 2:
        return
    if pin_command[1] == "w":
        app_write(session, msg_id, text, dash, target_id, device_ids, pin_command)
    elif pin_command[1] == "u":
        app_selector.select_device(session, msg_id, text, dash, pin_command)


def app_write(session, msg_id, text, dash, target_id, device_ids, pin_command):
    parts = pin_command.split("\0", 2)
    if len(parts) < 3:
        raise illegal_body("a write needs pin and value")
    pin_type, pin, value = pins.parse_write(pin_command, empty_value_allowed=True)
    user = session.user
    for device_id in device_ids:
        session.server.pin_written(user, dash, device_id, pin_type, pin, value, APP, session)
    if target_id >= 100_000:
        pins.store_value(user, dash, target_id, pin_type, pin, value)
    dash.updated_at = session.server.reactor.wall_ms
    session.server.hub.mark_dirty(user)
    server = session.server
    server.echo_to_other_apps(session, Command.APP_SYNC, msg_id, text.encode("utf-8"), dash.id)
    payload = pin_command.encode("utf-8")
    delivered = False
    for hw in server.hub.session(user).hardware:
        if hw.dash.id == dash.id and hw.device.id in device_ids:
            delivered |= hw.deliver(Command.HARDWARE, msg_id, payload)
    if not delivered and not dash.is_notifications_off:
        session.respond(msg_id, Status.DEVICE_NOT_IN_NETWORK)


def app_sync(session, msg_id, text):
    dash_id, target_id = parse_target(text) if "-" in text[1:] else (parse_int(text), None)
    dash = dashboard_or_fail(session, dash_id)
    session.ok(msg_id)
    send_app_sync(session, dash, target_id)


def send_app_sync(session, dash, target_id=None):
    for command, body in sync.app_sync_messages(session.user, dash, target_id):
        session.send(command, MsgId.APP_SYNC, body)


def activate(session, msg_id, text):
    dash = dashboard_or_fail(session, parse_int(text))
    server = session.server
    dash.is_active = True
    dash.updated_at = server.reactor.wall_ms
    server.hub.mark_dirty(session.user)
    user_session = server.hub.session(session.user)
    if user_session.has_hardware_on(dash.id):
        send_pin_modes(session, msg_id, dash, user_session)
        session.ok(msg_id)
    elif dash.is_notifications_off:
        session.ok(msg_id)
    else:
        session.respond(msg_id, Status.DEVICE_NOT_IN_NETWORK)
    server.echo_to_other_apps(session, Command.ACTIVATE_DASHBOARD, msg_id, text.encode(), dash.id)
    for app in user_session.apps_seeing(dash.id):
        send_app_sync(app, dash)


def send_pin_modes(session, msg_id, dash, user_session):
    quiet = dash.is_notifications_off
    for device in dash.devices:
        body = dash.pin_modes(device.id)
        connections = user_session.hardware_of(dash.id, device.id)
        if body is None:
            if not connections and not quiet:
                session.respond(MsgId.PIN_MODE, Status.DEVICE_NOT_IN_NETWORK)
            continue
        payload = body.encode()
        if not connections:
            if not quiet:
                session.respond(MsgId.PIN_MODE, Status.DEVICE_NOT_IN_NETWORK)
            continue
        for hw in connections:
            if not hw.deliver(Command.HARDWARE, MsgId.PIN_MODE, payload):
                session.respond(msg_id, Status.DEVICE_NOT_IN_NETWORK)


def deactivate(session, msg_id, text):
    server = session.server
    dashes = session.user.profile.dashboards if not text else [dashboard_or_fail(session, parse_int(text))]
    for dash in dashes:
        dash.is_active = False
        dash.updated_at = server.reactor.wall_ms
    server.hub.mark_dirty(session.user)
    server.echo_to_other_apps(session, Command.DEACTIVATE_DASHBOARD, msg_id, text.encode(),
                              dashes[0].id if text else None)
    session.ok(msg_id)


def get_energy(session, msg_id, text):
    session.send(Command.GET_ENERGY, msg_id, str(session.user.energy))


def add_push_token(session, msg_id, text):
    parts = split(text)
    if len(parts) < 3:
        raise illegal_command("addPushToken needs dash, uid and token")
    dash = dashboard_or_fail(session, parse_int(parts[0]))
    widget = dash.widget_of_type("NOTIFICATION")
    if widget is None:
        raise not_allowed("no Notification widget")
    key = {"android": "androidTokens", "ios": "iOSTokens"}.get((session.os_name or "").lower())
    if key is not None:
        widget.setdefault(key, {})[parts[1]] = parts[2]
        session.server.hub.mark_dirty(session.user)
    session.ok(msg_id)


def logout(session, msg_id, text):
    for dash in session.user.profile.dashboards:
        widget = dash.widget_of_type("NOTIFICATION")
        if widget is None:
            continue
        for key in ("androidTokens", "iOSTokens"):
            tokens = widget.get(key) or {}
            if text:
                tokens.pop(text, None)
            else:
                tokens.clear()
    session.server.hub.mark_dirty(session.user)
    session.ok(msg_id)
    session.close("logout")


TOKEN_MAIL_FOOTER = ("\n\nHappy Blynking!\n-\nGetting Started Guide -> https://www.blynk.cc/getting-started\n"
                     "Documentation -> http://docs.blynk.cc/\n")


def email_tokens(session, msg_id, text):
    """EMAIL (13) from the app: the device token(s) of a project to the account (spec/app.md §4.8)."""
    parts = split(text)
    if parts[0] == "template":
        app_tiles.template_email(session, msg_id, parts)
        return
    dash = dashboard_or_fail(session, parse_int(parts[0]))
    project = dash.name or "New Project"
    if len(parts) > 1:
        device = dash.device(parse_int(parts[1]))
        if device is None or not device.token:
            raise illegal_body("no such device or it has no token")
        devices = [device]
    else:
        devices = [d for d in dash.devices if d.token]
    if len(devices) == 1:
        subject = f"Auth Token for {project} project and device {devices[0].name or 'New Device'}"
        body = f"Auth Token : {devices[0].token}\n"
    else:
        subject = f"Auth Tokens for {project} project and {len(devices)} devices"
        body = "".join(f"Auth Token for device '{d.name or 'New Device'}' : {d.token}\n" for d in devices)
    session.server.notifier.mail(session.user.email, subject, body + TOKEN_MAIL_FOOTER, False,
                                 lambda error: session.respond(
                                     msg_id, Status.OK if error is None else Status.NOTIFICATION_ERROR))


def update_project_settings(session, msg_id, text):
    parts = text.split("\0", 1)
    if len(parts) < 2:
        raise illegal_command("settings need dash id and JSON")
    dash = dashboard_or_fail(session, parse_int(parts[0]))
    settings = app_profile.parse_json(session, parts[1], "user.widget.max.size.limit")
    dash.apply_settings(settings)
    dash.updated_at = session.server.reactor.wall_ms
    session.server.hub.mark_dirty(session.user)
    session.ok(msg_id)


AppSession.handlers = {
    Command.PING: ping,
    Command.HARDWARE: hardware,
    Command.APP_SYNC: app_sync,
    Command.ACTIVATE_DASHBOARD: activate,
    Command.DEACTIVATE_DASHBOARD: deactivate,
    Command.GET_ENERGY: get_energy,
    Command.ADD_PUSH_TOKEN: add_push_token,
    Command.LOGOUT: logout,
    Command.UPDATE_PROJECT_SETTINGS: update_project_settings,
    Command.EMAIL: email_tokens,
    **app_profile.HANDLERS,
    Command.SHARING: app_sharing.sharing,
    Command.GET_SHARE_TOKEN: app_sharing.get_share_token,
    Command.REFRESH_SHARE_TOKEN: app_sharing.refresh_share_token,
    Command.CREATE_TILE_TEMPLATE: app_tiles.create_tile_template,
    Command.UPDATE_TILE_TEMPLATE: app_tiles.update_tile_template,
    Command.DELETE_TILE_TEMPLATE: app_tiles.delete_tile_template,
    # Rarely used: each module is imported at the first of its commands (handlers/first_use.py).
    **on_first_use("history", HISTORY_COMMANDS),
    **on_first_use("app_tags", (Command.CREATE_TAG, Command.UPDATE_TAG, Command.DELETE_TAG, Command.GET_TAGS)),
    **on_first_use("app_widgets", (Command.GET_WIDGET, Command.SET_WIDGET_PROPERTY,
                                   Command.HARDWARE_RESEND_FROM_BLUETOOTH)),
    **on_first_use("app_clone", (Command.GET_CLONE_CODE, Command.GET_PROJECT_BY_CLONE_CODE)),
    **on_first_use("app_provisioning", (Command.GET_PROVISION_TOKEN,)),
    **on_first_use("app_publisher", (Command.CREATE_APP, Command.UPDATE_APP, Command.DELETE_APP, Command.UPDATE_FACE,
                                     Command.EMAIL_QR, Command.REDEEM, Command.ASSIGN_TOKEN,
                                     Command.GET_PROJECT_BY_TOKEN)),
}
