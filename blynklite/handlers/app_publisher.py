"""App export ("Publisher", spec/app.md §3): exported apps, faces, and the flashed-token commands.

Owns: CREATE/UPDATE/DELETE_APP, UPDATE_FACE, EMAIL_QR, REDEEM, ASSIGN_TOKEN, GET_PROJECT_BY_TOKEN and
the publisher form of LOAD_PROFILE_GZIPPED. Flashed tokens and redeem codes live only in upstream's
PostgreSQL tables: with `enable.db` app_flashed keeps them there; without a database these commands give
upstream's answer for a token its database does not hold: NOT_ALLOWED (EMAIL_QR: NOTIFICATION_ERROR, as
the token insert fails; the publisher profile load: no reply). Never does: pretend a token was stored.

Invariant: `profile.apps` holds plain JSON objects in Java's App shape, ids `blynk` + 8 characters.
"""
import json
import secrets
import string

from ..codec.body import parse_int, split
from ..codec.commands import Command, Status, illegal_body, illegal_command, not_allowed
from ..model.dashboard import DashBoard
from ..model.java_shape import is_assigned_to_device
from . import app_clone, app_flashed, app_profile, app_sharing, password_reset
from ..logger import get_logger

log = get_logger("blynklite.publisher")

MAX_APPS = 25                   # upstream refuses a new app when a profile has more than 25
APP_ID_PREFIX = "blynk"         # AppNameUtil.generateAppId: "blynk" + 8 random characters
APP_ID_RANDOM = 8
APP_ID_ALPHABET = string.ascii_letters + string.digits
THEMES = ("Blynk", "blynk", "BlynkLight", "SparkFun", "AppTheme", "CustomTheme", "AppExport")
PROVISION_TYPES = ("STATIC", "DYNAMIC")


def _app_json(data, app_id):
    """Java's App: id, theme, provisionType, color, isMultiFace, name, icon, projectIds."""
    out = {"id": app_id}
    for key in ("theme", "provisionType"):
        if data.get(key) is not None:
            out[key] = data[key]
    out["color"] = data.get("color") if isinstance(data.get("color"), int) else 0
    out["isMultiFace"] = bool(data.get("isMultiFace"))
    for key in ("name", "icon"):
        if data.get(key):
            out[key] = data[key]
    ids = data.get("projectIds")
    if isinstance(ids, list):
        out["projectIds"] = [i for i in ids if isinstance(i, int)]
    return out


def _valid(app):
    return (app.get("theme") in THEMES and app.get("provisionType") in PROVISION_TYPES
            and isinstance(app.get("name"), str) and app["name"] and "projectIds" in app)


def _find_app(user, app_id):
    for app in user.profile.apps:
        if isinstance(app, dict) and app.get("id") == app_id:
            return app
    return None


def _changed(session):
    session.user.last_modified_ts = session.server.reactor.wall_ms
    session.server.hub.mark_dirty(session.user)


def create_app(session, msg_id, text):
    data = app_profile.parse_json(session, text, "user.widget.max.size.limit")
    app_id = APP_ID_PREFIX + "".join(secrets.choice(APP_ID_ALPHABET) for _ in range(APP_ID_RANDOM))
    app = _app_json(data, app_id)
    if not _valid(app):
        raise not_allowed("app is not valid")
    user = session.user
    if len(user.profile.apps) > MAX_APPS:
        raise not_allowed("app limit reached")
    user.profile.apps.append(app)
    _changed(session)
    app_profile._reply_json(session, Command.CREATE_APP, msg_id, app)


def update_app(session, msg_id, text):
    data = app_profile.parse_json(session, text, "user.widget.max.size.limit")
    app = _app_json(data, data.get("id"))
    if not _valid(app):
        raise not_allowed("app is not valid")
    existing = _find_app(session.user, app["id"])
    if existing is None:
        raise not_allowed("no such app")
    existing.clear()
    existing.update(app)
    _changed(session)
    session.ok(msg_id)


def delete_app(session, msg_id, text):
    user = session.user
    app = _find_app(user, text)
    if app is None:
        raise not_allowed("no such app")
    server = session.server
    for other in server.hub.users.values():
        if other.app_name == app["id"] and other.email != user.email:
            raise not_allowed("the app has users")
    project_ids = set(app.get("projectIds") or ())
    for dash in [d for d in user.profile.dashboards if d.id in project_ids]:
        server.hub.unindex_dashboard(dash)
        server.hub.close_hardware(user, dash.id)
        user.profile.dashboards.remove(dash)
    user.profile.apps.remove(app)
    _changed(session)
    session.ok(msg_id)


def update_face(session, msg_id, text):
    """Copy the parent project's face (settings, widgets, tags) to every app-preview child of it."""
    parent_id = parse_int(text)
    user = session.user
    parent = app_profile.dashboard_or_fail(session, parent_id)
    children = {d.id for d in user.profile.dashboards if d.parent_id == parent_id}
    app_ids = {a.get("id") for a in user.profile.apps
               if isinstance(a, dict) and children & set(a.get("projectIds") or ())}
    if not app_ids:
        raise not_allowed("no app exports this project")
    updated = 0
    server = session.server
    for owner in list(server.hub.users.values()):
        if owner is not user and owner.app_name not in app_ids:
            continue
        for dash in owner.profile.dashboards:
            if dash.parent_id == parent_id:
                _copy_face(dash, parent, server.reactor.wall_ms)
                server.hub.mark_dirty(owner)
                updated += 1
        if owner is not user and updated:
            server.hub.close_all(owner, "exported app face updated")   # upstream closes their apps
    if not updated:
        raise not_allowed("no faces to update")
    log.info("Updated %s faces of project %s for %s", updated, parent_id, user.email)
    session.ok(msg_id)


def _copy_face(dash, parent, now_ms):
    for name in ("name", "is_shared", "theme", "keep_screen_on", "is_app_connected_on",
                 "is_notifications_off", "widget_background_on", "color", "is_default_color"):
        setattr(dash, name, getattr(parent, name))
    old_values = {w.get("id"): w.get("value") for w in dash.widgets if "value" in w}
    dash.widgets = [json.loads(json.dumps(w)) for w in parent.widgets]
    for widget in dash.widgets:
        widget["isDefaultColor"] = False
        if widget.get("id") in old_values:
            widget["value"] = old_values[widget["id"]]
    dash.tags = json.loads(json.dumps(parent.tags))
    dash.widgets_changed()
    dash.updated_at = now_ms


def email_qr(session, msg_id, text):
    parts = split(text)
    dash = app_profile.dashboard_or_fail(session, parse_int(parts[0]))
    app = _find_app(session.user, parts[1]) if len(parts) > 1 else None
    if app is None:
        raise illegal_body("no such app")
    if app.get("provisionType") == "STATIC" and not dash.devices:
        raise illegal_body("a static app needs devices")
    if app_flashed.database(session.server) is not None:
        app_flashed.email_qr(session, msg_id, dash, app)
        return
    log.warning("EMAIL_QR for %s: app publishing needs a database of flashed tokens, which blynklite "
                "does not have", session.user.email)
    session.respond(msg_id, Status.NOTIFICATION_ERROR)


# -- a new account of an exported app ---------------------------------------------------------------
def account_created(server, user):
    """After REGISTER: the standard app's welcome mail; an exported app's account gets its project."""
    if user.app_name == "Blynk":
        password_reset.welcome_mail(server, user.email, user.app_name)
        return
    owner, app = _exporting(server, user.app_name)
    if app is None:
        log.info("no exported app %s for the new account %s", user.app_name, user.email)
        return
    if app.get("isMultiFace"):
        return            # a multi-face app lets its users pick a face; no project is made (upstream)
    project_ids = app.get("projectIds") or []
    parent = owner.profile.dashboard(project_ids[0]) if project_ids else None
    if parent is None:
        log.warning("exported app %s names no project of %s", app["id"], owner.email)
        return
    _give_project(server, user, parent, app.get("provisionType") == "DYNAMIC")


def _exporting(server, app_id):
    for owner in server.hub.users.values():
        app = _find_app(owner, app_id)
        if app is not None:
            return owner, app
    return None, None


def _give_project(server, user, parent, dynamic):
    """The exported project, as the new account's project 1: active, no values, new or no tokens."""
    dash = DashBoard.from_json(app_clone.erased(app_sharing.restricted_json(parent)))
    now = server.reactor.wall_ms
    dash.id, dash.parent_id, dash.is_active = 1, parent.parent_id, True
    dash.created_at = dash.updated_at = now
    dash.shared_token, dash.is_shared = None, False
    _drop_devices_from_device_tiles(dash)
    user.profile.dashboards = [dash]
    for device in dash.devices:
        device.reset_for_new_token()
        if dynamic:
            server.hub.assign_token(user, dash, device)
    server.hub.mark_dirty(user)
    log.info("%s got the project of exported app %s", user.email, user.app_name)


def _drop_devices_from_device_tiles(dash):
    """Upstream's rule for an exported app's new account: a device no widget of the project is assigned to
    (one provisioned from Device Tiles) is not copied; the end user provisions their own."""
    dash.devices = [d for d in dash.devices
                    if any(is_assigned_to_device(w, d.id) for w in dash.widgets if isinstance(w, dict))]


# -- flashed tokens and redeem codes: upstream keeps them only in PostgreSQL (app_flashed) ---------
def _no_database(session, what):
    log.info("%s: %s: no database holds flashed tokens or redeem codes", session.describe(), what)


def redeem(session, msg_id, text):
    if app_flashed.database(session.server) is not None:
        app_flashed.redeem(session, msg_id, text)
        return
    _no_database(session, "redeem")
    session.respond(msg_id, Status.NOT_ALLOWED)


def assign_token(session, msg_id, text):
    parts = split(text)
    dash = app_profile.dashboard_or_fail(session, parse_int(parts[0]))
    if len(parts) < 2:
        log.info("%s: assign token without a token", session.describe())   # upstream: no reply
        return
    if app_flashed.database(session.server) is not None:
        app_flashed.assign_token(session, msg_id, dash, parts[1])
        return
    _no_database(session, "assign token")
    session.respond(msg_id, Status.NOT_ALLOWED)


def get_project_by_token(session, msg_id, text):
    if app_flashed.database(session.server) is not None:
        app_flashed.get_project_by_token(session, msg_id, text)
        return
    _no_database(session, "project by flashed token")
    session.respond(msg_id, Status.NOT_ALLOWED)


def load_published_profile(session, msg_id, parts):
    """`flashedToken\\0dashId\\0publisherEmail[\\0appName]`: the publisher's project for a known flashed
    token; without a database no token is known, so no reply (upstream)."""
    dash_id = parse_int(parts[1])
    if len(parts) < 3:
        log.info("%s: publisher profile load without publisher e-mail", session.describe())
        return
    if app_flashed.database(session.server) is not None:
        app_name = parts[3] if len(parts) == 4 else session.user.app_name
        app_flashed.load_published_profile(session, msg_id, parts[0], dash_id, parts[2].lower(), app_name)
        return
    _no_database(session, "publisher profile")


HANDLERS = {
    Command.CREATE_APP: create_app,
    Command.UPDATE_APP: update_app,
    Command.DELETE_APP: delete_app,
    Command.UPDATE_FACE: update_face,
    Command.EMAIL_QR: email_qr,
    Command.REDEEM: redeem,
    Command.ASSIGN_TOKEN: assign_token,
    Command.GET_PROJECT_BY_TOKEN: get_project_by_token,
}
