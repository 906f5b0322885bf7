"""Project sharing from the app (spec/app.md §2.5, §4.10): share tokens, SHARING on/off, SHARE_LOGIN,
and the commands a share session may send on its one shared dashboard.

Owns: the share-token replies, the restricted (no private fields) view of a dashboard, and the checks a
share session's commands pass before the owner's handlers run. Never does: keep share state of its own;
the token lives on the dashboard (`sharedToken`) and in the hub's share-token index.

Invariant: a live share session always holds its dashboard's current share token: refreshing the token
closes every share session of that dashboard, so "same dashboard" is "same token" everywhere else.
"""
import json
import zlib

from ..codec.body import parse_int, parse_target, split
from ..codec.commands import Command, Status, StatusError, illegal_command, not_allowed
from ..model import widgets as W
from ..model.java_shape import widget_json
from ..sessions import login_guard
from . import app_profile
from ..logger import get_logger

log = get_logger("blynklite.share")

SHARE_TOKEN_PRICE = 1000          # energy a first share token costs (upstream's PRIVATE_TOKEN_PRICE)
PRIVATE_WIDGET_FIELDS = {"NOTIFICATION": ("androidTokens", "iOSTokens"),
                         "TWITTER": ("token", "secret", "username")}


def restricted_json(dash):
    """The dashboard as a share session, a clone code or an app export sees it (spec/app.md §5.6)."""
    data = dash.to_json(private=False)
    if data.get("widgets"):
        data["widgets"] = [restricted_json_widget(w) for w in data["widgets"]]
    return data


def restricted_json_widget(widget):
    widget = widget_json(widget)
    private = PRIVATE_WIDGET_FIELDS.get(W.kind(widget))
    return {k: v for k, v in widget.items() if k not in private} if private else widget


def compressed(data):
    return zlib.compress(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _dash_id_or_not_allowed(text):
    """Upstream answers NOT_ALLOWED (not ILLEGAL_COMMAND) for a share request whose id is no number."""
    try:
        return int(text)
    except ValueError:
        raise not_allowed("dashboard id is not a number") from None


# -- the owner's commands --------------------------------------------------------------------------
def get_share_token(session, msg_id, text):
    user = session.user
    dash = app_profile.dashboard_or_fail(session, _dash_id_or_not_allowed(text))
    token = dash.shared_token
    if not token:
        if user.app_name == "Blynk" and user.energy < SHARE_TOKEN_PRICE:
            raise StatusError(Status.ENERGY_LIMIT, "not enough energy for a share token")
        token = session.server.hub.refresh_share_token(user, dash)
        user.energy -= SHARE_TOKEN_PRICE
        _token_changed(session, dash)
    session.send(Command.GET_SHARE_TOKEN, msg_id, token)


def refresh_share_token(session, msg_id, text):
    user = session.user
    dash = app_profile.dashboard_or_fail(session, _dash_id_or_not_allowed(text))
    token = session.server.hub.refresh_share_token(user, dash)
    _token_changed(session, dash)
    for app in list(session.server.hub.session(user).apps):
        if app.share_dash_id == dash.id:
            app.respond(msg_id, Status.NOT_ALLOWED)
            app.close("share token refreshed")
    log.info("%s refreshed the share token of dashboard %s", user.email, dash.id)
    session.send(Command.REFRESH_SHARE_TOKEN, msg_id, token)


def sharing(session, msg_id, text):
    parts = split(text)
    dash = app_profile.dashboard_or_fail(session, parse_int(parts[0]))
    if len(parts) < 2:
        log.info("%s: sharing without on/off", session.describe())   # upstream: no reply
        return
    dash.is_shared = parts[1] == "on"         # upstream leaves updatedAt and lastModifiedTs alone here
    session.server.hub.mark_dirty(session.user)
    session.server.echo_to_other_apps(session, Command.SHARING, msg_id, text.encode("utf-8"), dash.id)
    session.ok(msg_id)


def _token_changed(session, dash):
    """A new share token changes the dashboard's updatedAt and the account's lastModifiedTs (upstream)."""
    dash.updated_at = session.user.last_modified_ts = session.server.reactor.wall_ms
    session.server.hub.mark_dirty(session.user)


# -- before login: SHARE_LOGIN ---------------------------------------------------------------------
def share_login(session, msg_id, text):
    parts = split(text)
    if len(parts) < 2:
        raise illegal_command("share login needs email and share token")
    guard, ip, email = session.server.login_guard, session.conn.peer[0], parts[0].lower()
    if guard.blocked(login_guard.APP, ip, email):
        session.refuse(msg_id, Status.QUOTA_LIMIT, "login blocked")
        return
    ref = session.server.hub.resolve_share_token(parts[1])
    if ref is None or ref.user.email != email or not ref.dash.is_shared:
        # one answer for every refusal: nobody learns whether the account or token exists
        guard.failed(login_guard.APP, ip, email, "share token refused")
        session.refuse(msg_id, Status.NOT_ALLOWED, "share login refused")
        return
    if len(parts) >= 4:
        session.os_name, session.version = parts[2], parts[3]
    session.become_share(ref.user, ref.dash)
    session.ok(msg_id)
    log.info("Shared %s app joined.", ref.user.email)


# -- what a share session may do -------------------------------------------------------------------
def on_shared_dash(handler):
    """Run `handler` only when the request's dashboard is the session's shared one."""
    def checked(session, msg_id, text):
        head = text.partition("\0")[0]
        if head:
            dash_id = parse_target(head)[0] if "-" in head[1:] else parse_int(head)
            if dash_id != session.share_dash_id:
                raise illegal_command("a share session sees only its shared dashboard")
        handler(session, msg_id, text)
    checked.__name__ = handler.__name__
    return checked


def share_hardware(session, msg_id, text, owner_hardware):
    """HARDWARE from a share session: as the owner's, once the dashboard is active and still shared."""
    head, sep, _ = text.partition("\0")
    if not sep:
        log.debug("%s: hardware body without a separator", session.describe())
        return
    dash = app_profile.dashboard_or_fail(session, parse_target(head)[0])
    if not dash.is_active:
        return
    if not dash.is_shared:
        raise not_allowed("dashboard is not shared")
    owner_hardware(session, msg_id, text)


def load_shared_profile(session, msg_id, text):
    if text:
        data = restricted_json(app_profile.dashboard_or_fail(session, parse_int(text)))
    else:
        data = {"dashBoards": [restricted_json(app_profile.dashboard_or_fail(session, session.share_dash_id))]}
    session.send(Command.LOAD_PROFILE_GZIPPED, msg_id, compressed(data))
