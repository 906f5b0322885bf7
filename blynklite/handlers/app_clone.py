"""Cloning a project from the app (spec/app.md §3): GET_CLONE_CODE and GET_PROJECT_BY_CLONE_CODE.

Clone codes are files `<dataFolder>/clone/<code>` holding the restricted JSON of a dashboard, the same
store HTTP `/{token}/qr` writes and `/{code}/clone` reads, so a code from either side works on the other.
Owns: the two replies. Never does: file I/O on the reactor thread; reads and writes run in the worker pool.

Invariant: a clone code is 32 characters of URL-safe Base64 before it is ever joined to a path, so no
request can name a file outside the clone folder.
"""
import json
import os
import re

from ..atomicfile import write_atomically
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
    dash = app_profile._dash(session, parse_int(text))
    body = json.dumps(erased(app_sharing.restricted_json(dash)), ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    code = new_token()
    folder = clone_folder(session.server)

    def write():
        os.makedirs(folder, exist_ok=True)
        write_atomically(os.path.join(folder, code), body, 0o600)

    def written(result, error):
        if error is not None:
            log.warning("cannot store a clone code for %s: %s", session.user.email, error)
            session.respond(msg_id, Status.SERVER_ERROR)
        else:
            session.send(Command.GET_CLONE_CODE, msg_id, code)
    session.server.workers.submit(write, on_done=written)


def get_project_by_clone_code(session, msg_id, text):
    """`code` → the project; `code\\0<anything>` → also created in this account (new id, new tokens)."""
    code, create = (text.split("\0", 1)[0], True) if "\0" in text else (text, False)
    if not CLONE_CODE.match(code):
        log.info("%s: malformed clone code", session.describe())
        session.respond(msg_id, Status.SERVER_ERROR)
        return
    path = os.path.join(clone_folder(session.server), code)

    def read():
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8")
        except FileNotFoundError:
            return None

    def done(data, error):
        if error is not None or data is None:
            log.info("%s: clone code not found or unreadable", session.describe())
            session.respond(msg_id, Status.SERVER_ERROR)
        elif create:
            _create_clone(session, msg_id, data)
        else:
            session.send(Command.GET_PROJECT_BY_CLONE_CODE, msg_id, app_sharing.compressed(json.loads(data)))
    session.server.workers.submit(read, on_done=done)


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
