"""Cloning a project from the app (spec/app.md §3): GET_CLONE_CODE and GET_PROJECT_BY_CLONE_CODE.

Clone codes hold the restricted JSON of a dashboard. With `enable.db` they go to upstream's
`cloned_projects` table; without it to files `<dataFolder>/clone/<code>`. Reads look in the table first and
then in the folder, as upstream does. HTTP `/{token}/qr` and `/{code}/clone` use the same two functions, so
a code from either side works on the other.
Owns: the two replies and the clone store (`write_clone`, `read_clone`). Never does: file or database I/O
on the reactor thread; reads and writes run in the worker pool.

Invariant: a clone code is 32 characters of URL-safe Base64 before it is ever joined to a path, so no
request can name a file outside the clone folder.
"""
import json
import os
import re

from ..storage.atomicfile import write_atomically
from ..codec.body import parse_int
from ..codec.commands import Command, Status
from ..hub import new_token
from ..model import widgets as W
from ..model.dashboard import DashBoard
from . import app_profile, app_sharing
from .http_api import clone_folder
from ..logger import get_logger

log = get_logger("blynklite.clone")

CLONE_CODE = re.compile(r"^[A-Za-z0-9_-]{32}$")    # what new_token() makes (spec/commands.md §3)
CLONE_INSERT = "INSERT INTO cloned_projects (token, ts, json) VALUES (%s, now(), %s)"   # upstream's SQL
CLONE_SELECT = "SELECT json FROM cloned_projects WHERE token = %s"


def clone_database(server):
    """The open database of `enable.db`, or None (then clone codes live only in files)."""
    history = getattr(server, "history", None)
    return getattr(history, "database", None) if history is not None else None


def write_clone(db, folder, code, text):
    """On a worker: store a clone, in the database when there is one (an error there is an error), else a file."""
    if db is not None:
        _in_database(db, CLONE_INSERT, (code, text))
        return
    os.makedirs(folder, exist_ok=True)
    write_atomically(os.path.join(folder, code), text.encode("utf-8"), 0o600)


def read_clone(db, folder, code):
    """On a worker: the clone's JSON text from the database, else from its file; None when neither has it."""
    if db is not None:
        row = _in_database(db, CLONE_SELECT, (code,), fetch=True)
        if row is not None:
            return row[0]
    try:
        with open(os.path.join(folder, code), "rb") as f:
            return f.read().decode("utf-8")
    except FileNotFoundError:
        return None


def _in_database(db, sql, args, fetch=False):
    conn = db.driver.connect(**db.main.args)     # a short connection: clone codes are rare
    try:
        with conn:
            with conn.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchone() if fetch else None
    finally:
        conn.close()


def erased(data):
    """Upstream's eraseWidgetValues on the JSON: no current values in widgets, streams or tiles."""
    for widget in data.get("widgets") or ():
        widget.pop("value", None)
        for stream in W.streams(widget):
            stream.pop("value", None)
        if W.kind(widget) == "DEVICE_TILES":
            widget["tiles"] = []
    return data


def get_clone_code(session, msg_id, text):
    dash = app_profile.dashboard_or_fail(session, parse_int(text))
    project = json.dumps(erased(app_sharing.restricted_json(dash)), ensure_ascii=False, separators=(",", ":"))
    code = new_token()
    server = session.server

    def written(result, error):
        if error is not None:
            log.warning("cannot store a clone code for %s: %s", session.user.email, error)
            session.respond(msg_id, Status.SERVER_ERROR)
        else:
            session.send(Command.GET_CLONE_CODE, msg_id, code)
    if not server.workers.submit(write_clone, clone_database(server), clone_folder(server), code, project,
                                 on_done=written):
        written(None, RuntimeError("the worker queue is full"))


def get_project_by_clone_code(session, msg_id, text):
    """`code` → the project; `code\\0<anything>` → also created in this account (new id, new tokens)."""
    code, create = (text.split("\0", 1)[0], True) if "\0" in text else (text, False)
    if not CLONE_CODE.match(code):
        log.info("%s: malformed clone code", session.describe())
        session.respond(msg_id, Status.SERVER_ERROR)
        return
    server = session.server

    def done(data, error):
        if error is not None or data is None:
            log.info("%s: clone code not found or unreadable", session.describe())
            session.respond(msg_id, Status.SERVER_ERROR)
        elif create:
            _create_clone(session, msg_id, data)
        else:
            session.send(Command.GET_PROJECT_BY_CLONE_CODE, msg_id, app_sharing.compressed(json.loads(data)))
    if not server.workers.submit(read_clone, clone_database(server), clone_folder(server), code, on_done=done):
        done(None, RuntimeError("the worker queue is full"))


def _create_clone(session, msg_id, text):
    try:
        dash = DashBoard.from_json(json.loads(text))
    except (ValueError, TypeError, AttributeError):
        session.respond(msg_id, Status.SERVER_ERROR)
        return
    user = session.user
    profile = user.profile
    dash.id = max((d.id for d in profile.dashboards), default=0) + 1
    dash.is_preview, dash.parent_id, dash.is_shared, dash.shared_token = False, -1, False, None
    if len(profile.dashboards) >= session.server.config["user.dashboard.max.limit"]:
        session.respond(msg_id, Status.QUOTA_LIMIT)
        return
    price = dash.energy_price()
    if user.app_name == "Blynk" and user.energy < price:
        session.respond(msg_id, Status.ENERGY_LIMIT)
        return
    user.energy -= price
    dash.created_at = dash.created_at or session.server.reactor.wall_ms
    profile.dashboards.append(dash)
    for device in dash.devices:
        device.reset_for_new_token()
        session.server.hub.assign_token(user, dash, device)
    user.last_modified_ts = session.server.reactor.wall_ms     # updatedAt stays the clone's, as upstream
    session.server.hub.mark_dirty(user)
    session.send(Command.GET_PROJECT_BY_CLONE_CODE, msg_id, app_sharing.compressed(dash.to_json()))


HANDLERS = {
    Command.GET_CLONE_CODE: get_clone_code,
    Command.GET_PROJECT_BY_CLONE_CODE: get_project_by_clone_code,
}
