"""ShareSession: an app connection logged in with a share token (spec/app.md §2.5, §4.10).

Owns: the handler table of a share session, which is upstream's short list (HARDWARE, profile load,
push token, devices, ping, sync, logout; the history commands when the history handlers exist), each
limited to the one shared dashboard. Never does: owner commands; they are ignored without a reply, as
upstream ignores them.

Invariant: a ShareSession has the very same slots as AppSession (`__slots__ = ()`), so SHARE_LOGIN
turns the logged-out AppSession into one in place (`become_share`) without a second object or a lost
byte of what the decoder already holds.
"""
from ..codec.commands import Command
from ..handlers import app, app_sharing
from ..handlers.app import AppSession
from .binary import ping

# Upstream's MobileShareHandler also answers these when the history work provides them.
HISTORY_COMMANDS = (Command.GET_ENHANCED_GRAPH_DATA, Command.DELETE_DEVICE_DATA)


def hardware(session, msg_id, text):
    app_sharing.share_hardware(session, msg_id, text, app.hardware)


class ShareSession(AppSession):
    __slots__ = ()

    def describe(self):
        return f"share app {self.user.email} dash {self.share_dash_id} {self.conn.peer[0]}"

    # Leaving is the owner app's (AppSession.connection_lost): upstream's share state is an app
    # state, so a closing share app also sends `adis` to the devices of app-connected dashboards.


def _table():
    shared = app_sharing.on_shared_dash
    table = {
        Command.PING: ping,
        Command.HARDWARE: shared(hardware),
        Command.LOAD_PROFILE_GZIPPED: shared(app_sharing.load_shared_profile),
        Command.ADD_PUSH_TOKEN: shared(app.add_push_token),
        Command.GET_DEVICES: shared(app.AppSession.handlers[Command.GET_DEVICES]),
        Command.APP_SYNC: shared(app.app_sync),
        Command.LOGOUT: app.logout,
    }
    for command in HISTORY_COMMANDS:
        handler = AppSession.handlers.get(command)
        if handler is not None:
            table[command] = shared(handler)
    return table


ShareSession.handlers = _table()
