"""Provisioning from the app (spec/app.md §4.8): GET_PROVISION_TOKEN.

The app asks for a token for a device it is about to set up over Wi-Fi; the device is not in the
dashboard yet. Owns: the request checks and the reply. The hub keeps the temporary token
(`Hub.provisional`); the device joins its dashboard on its first hardware login (`Hub.claim_provisional`).
Never does: keep a temporary token forever; tokens unused for PROVISION_TOKEN_LIFETIME are purged
whenever a new one is issued.

Invariant: a temporary token resolves like any device token, to a device that is not (yet) listed in
its dashboard; nothing but the first login adds it.
"""
from ..codec.body import parse_int
from ..codec.commands import Command, illegal_command, not_allowed
from . import app_profile

# Upstream purges temporary tokens older than 7 days (TokenManager's temporary pool).
PROVISION_TOKEN_LIFETIME_MS = 7 * 24 * 3600 * 1000


def get_provision_token(session, msg_id, text):
    parts = text.split("\0", 1)
    dash = app_profile.dashboard_or_fail(session, parse_int(parts[0]))
    if len(parts) < 2 or not parts[1]:
        raise illegal_command("provisioning needs a device")
    _, device = app_profile._device_request(session, text)
    if not device.board_type or len(device.name or "") > app_profile.MAX_DEVICE_NAME:
        raise illegal_command("device needs a board type and a short name")
    if dash.device(device.id) is not None:
        raise not_allowed("a device with this id exists")
    hub = session.server.hub
    now = session.server.reactor.wall_ms
    hub.purge_provisional(now, PROVISION_TOKEN_LIFETIME_MS)
    device.reset_for_new_token()
    hub.assign_provisional_token(session.user, dash, device, now)
    session.user.last_modified_ts = now          # as upstream's token assignment
    hub.mark_dirty(session.user)
    app_profile._reply_json(session, Command.GET_PROVISION_TOKEN, msg_id, device.to_json())


HANDLERS = {Command.GET_PROVISION_TOKEN: get_provision_token}
