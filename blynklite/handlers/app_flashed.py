"""Flashed tokens and redeem codes in upstream's PostgreSQL tables (spec/storage.md §4), for app export:
EMAIL_QR (tokens made and mailed as QR codes), GET_PROJECT_BY_TOKEN and the publisher form of
LOAD_PROFILE_GZIPPED (the exported project a scanned token belongs to), ASSIGN_TOKEN (a flashed token
given to a device, once) and REDEEM (energy for a code, once per code).

Owns: the SQL for `flashed_tokens` and `redeem`. Used only when `enable.db` opened the database
(`server.history.database`); app_publisher answers as upstream without one. Never does: a query on the
reactor thread; each request runs in one transaction on a worker with its own short connection (these
commands are rare) and its answer is finished on the reactor thread.

Invariant: a token row is activated and a redeem row marked used by a conditional UPDATE, so two
requests racing for the same row cannot both win.
"""
from ..codec.commands import Command, Status
from ..hub import new_token
from . import app_clone, app_sharing
from ..logger import get_logger

log = get_logger("blynklite.publisher")

FLASHED_SELECT = ("SELECT email, app_name, project_id, device_id, is_activated FROM flashed_tokens "
                  "WHERE token = %s")
FLASHED_ACTIVATE = "UPDATE flashed_tokens SET is_activated = true, ts = now() WHERE token = %s AND NOT is_activated"
FLASHED_INSERT = ("INSERT INTO flashed_tokens (token, app_name, email, project_id, device_id, is_activated, ts) "
                  "VALUES (%s, %s, %s, %s, %s, false, now())")
REDEEM_SELECT = "SELECT email, isRedeemed, reward FROM redeem WHERE token = %s"
REDEEM_USE = "UPDATE redeem SET isRedeemed = true, email = %s, ts = now() WHERE token = %s AND NOT isRedeemed"
NO_DEVICE = -1                  # upstream's device id of a DYNAMIC app's one token
QR_MAIL_SUBJECT = "{app} - App details"
QR_MAIL_BODY = ("<html><body><p>Your app <b>{app}</b> for project <b>{project}</b>.</p>{rows}"
                "<p>Scan a QR code with the app, or flash the token into the device.</p></body></html>")


def database(server):
    """The open database of `enable.db`, or None."""
    history = getattr(server, "history", None)
    return getattr(history, "database", None) if history is not None else None


def _run(server, work, args, done):
    """`work(cursor, *args)` in one transaction on a worker; `done(result, error)` on the reactor."""
    db = database(server)

    def task():
        conn = db.driver.connect(**db.main.args)
        try:
            with conn:
                with conn.cursor() as cursor:
                    return work(cursor, *args)
        finally:
            conn.close()
    if not server.workers.submit(task, on_done=done):
        done(None, RuntimeError("the worker queue is full"))


def _failed(session, what, error):
    log.warning("%s: %s failed in the database: %s", session.describe(), what, error)


def _select_flashed(cursor, token):
    cursor.execute(FLASHED_SELECT, (token,))
    return cursor.fetchone()


# -- REDEEM ----------------------------------------------------------------------------------------
def _use_code(cursor, token, email):
    cursor.execute(REDEEM_SELECT, (token,))
    row = cursor.fetchone()
    if row is None:
        return None
    redeemed_by, is_redeemed, reward = row
    if is_redeemed:
        return 0 if redeemed_by == email else None       # the same account again: OK, nothing more
    cursor.execute(REDEEM_USE, (email, token))
    return reward if cursor.rowcount == 1 else None


def redeem(session, msg_id, token):
    user = session.user

    def done(reward, error):
        if error is not None:
            _failed(session, "redeem", error)
        if error is not None or reward is None:
            log.info("%s: redeem code refused", session.describe())
            session.respond(msg_id, Status.NOT_ALLOWED)
            return
        user.energy += reward
        session.server.hub.mark_dirty(user)
        log.info("%s redeemed a code for %s energy", user.email, reward)
        session.ok(msg_id)
    _run(session.server, _use_code, (token, user.email), done)


# -- ASSIGN_TOKEN ------------------------------------------------------------------------------------
def _activate(cursor, token, device_ids):
    row = _select_flashed(cursor, token)
    if row is None or row[4] or row[3] not in device_ids:
        return None
    cursor.execute(FLASHED_ACTIVATE, (token,))
    return row[3] if cursor.rowcount == 1 else None


def assign_token(session, msg_id, dash, token):
    def done(device_id, error):
        if error is not None:
            _failed(session, "assign token", error)
        device = dash.device(device_id) if error is None and device_id is not None else None
        if device is None:
            log.info("%s: flashed token unknown, used or for no device of the project", session.describe())
            session.respond(msg_id, Status.NOT_ALLOWED)
            return
        session.server.hub.set_token(session.user, dash, device, token)
        session.ok(msg_id)
    _run(session.server, _activate, (token, {d.id for d in dash.devices}), done)


# -- the exported project of a flashed token -----------------------------------------------------------
def _published(session, email, app_name, dash_id):
    owner = session.server.hub.get_user(email, app_name)
    dash = owner.profile.dashboard(dash_id) if owner is not None else None
    return None if dash is None else app_sharing.compressed(app_clone.erased(app_sharing.restricted_json(dash)))


def get_project_by_token(session, msg_id, token):
    def done(row, error):
        if error is not None:
            _failed(session, "project by token", error)
        data = _published(session, row[0], "Blynk", row[2]) if error is None and row is not None else None
        if data is None:
            log.info("%s: flashed token unknown or its project is gone", session.describe())
            session.respond(msg_id, Status.NOT_ALLOWED)
            return
        session.send(Command.GET_PROJECT_BY_TOKEN, msg_id, data)
    _run(session.server, _select_flashed, (token,), done)


def load_published_profile(session, msg_id, token, dash_id, email, app_name):
    """A known token: the publisher's dashboard; an unknown one: no reply (upstream)."""
    def done(row, error):
        if error is None and row is None:
            log.info("%s: publisher profile for an unknown flashed token", session.describe())
            return
        data = _published(session, email, app_name, dash_id) if error is None else None
        if data is None:
            session.respond(msg_id, Status.ILLEGAL_COMMAND)
            return
        session.send(Command.LOAD_PROFILE_GZIPPED, msg_id, data)
    _run(session.server, _select_flashed, (token,), done)


# -- EMAIL_QR --------------------------------------------------------------------------------------
def _insert(cursor, rows):
    for row in rows:
        cursor.execute(FLASHED_INSERT, row)
    return len(rows)


def email_qr(session, msg_id, dash, app):
    """New flashed tokens for the app's preview: one for a DYNAMIC app, one per device for a STATIC one,
    stored, then mailed to the account with their QR codes."""
    from ..qrcode import qr_png
    user = session.user
    devices = [(NO_DEVICE, None)] if app.get("provisionType") == "DYNAMIC" else \
        [(d.id, d.name or "New Device") for d in dash.devices]
    tokens = [(new_token(), device_id, name) for device_id, name in devices]
    rows = [(token, app["id"], user.email, dash.id, device_id) for token, device_id, _ in tokens]
    project = dash.name or "New Project"
    attachments = tuple((f"{project}_{dash.id}_{device_id}.png", qr_png(token), "image/png")
                        for token, device_id, _ in tokens)
    listing = "".join(f"<p>{name or 'Any device'}: {token}</p>" for token, _, name in tokens)
    body = QR_MAIL_BODY.format(app=app.get("name") or app["id"], project=project, rows=listing)

    def stored(count, error):
        if error is not None:
            _failed(session, "EMAIL_QR", error)
            session.respond(msg_id, Status.NOTIFICATION_ERROR)
            return
        session.server.notifier.mail(user.email, QR_MAIL_SUBJECT.format(app=app.get("name") or app["id"]), body,
                                     True, lambda mail_error: session.respond(
                                         msg_id, Status.OK if mail_error is None else Status.NOTIFICATION_ERROR),
                                     attachments=attachments)
    _run(session.server, _insert, (rows,), stored)
