"""The hub: accounts, device tokens and the live sessions of every account, and who hears what.

Owns: the user registry, the token index `token → (user, dashboard, device)`, one `UserSession`
per account with its app and hardware connections, and the set of users changed since the last
save. Never does: socket I/O or parsing; it calls `session.send_*` on the protocol objects.

Invariant: the token index always matches the devices in the profiles; every change to a token
goes through `assign_token` / `forget_token`.
"""
import base64
import os

from .model.user import User
from .logger import get_logger

log = get_logger("blynklite.hub")


def new_token():
    """32 chars of URL-safe Base64 from 24 random bytes (spec/commands.md §3)."""
    return base64.urlsafe_b64encode(os.urandom(24)).decode("ascii")


class TokenRef:
    __slots__ = ("user", "dash", "device")

    def __init__(self, user, dash, device):
        self.user = user
        self.dash = dash
        self.device = device


class UserSession:
    """Every live connection of one account (upstream's `Session`)."""
    __slots__ = ("user", "apps", "hardware")

    def __init__(self, user):
        self.user = user
        self.apps = []
        self.hardware = []

    def apps_seeing(self, dash_id):
        """Owner apps, and share apps bound to this dashboard."""
        return [a for a in self.apps if a.share_dash_id is None or a.share_dash_id == dash_id]

    def hardware_of(self, dash_id, device_id):
        return [h for h in self.hardware if h.dash.id == dash_id and h.device.id == device_id]

    def has_hardware_on(self, dash_id):
        return any(h.dash.id == dash_id for h in self.hardware)


class Hub:
    def __init__(self, config):
        self.config = config
        self.users = {}
        self.tokens = {}
        self.share_tokens = {}      # share token → TokenRef(user, dash, None) (app.md §4.10)
        self.provisional = {}       # temporary provisioning token → issued at, wall ms (app.md §4.8)
        self.sessions = {}
        self.dirty = set()
        # Called with the user on every profile change (mark_dirty), e.g. timers re-register
        # (automation/). The hardware write hot path adds to `dirty` directly and calls nobody.
        self.profile_listeners = []
        self.registrations_this_hour = 0

    # -- accounts ---------------------------------------------------------------------------------
    def add_user(self, user):
        self.users[user.key] = user
        for dash in user.profile.dashboards:
            self.index_dashboard(user, dash)

    def get_user(self, email, app_name):
        return self.users.get((email, app_name))

    def create_user(self, email, app_name, password_hash, now_ms):
        user = User.new(email, app_name, password_hash, self.config["initial.energy"])
        user.ip = self.config["server.host"] or None
        user.last_modified_ts = now_ms
        self.add_user(user)
        self.mark_dirty(user)
        return user

    def remove_user(self, user):
        """Forget an account: its tokens, its entry; the caller closes its connections first."""
        for dash in user.profile.dashboards:
            self.unindex_dashboard(dash)
        self.users.pop(user.key, None)
        self.dirty.discard(user)
        for listener in self.profile_listeners:      # e.g. its timers are unregistered
            listener(user)

    def mark_dirty(self, user):
        self.dirty.add(user)
        for listener in self.profile_listeners:
            listener(user)

    # -- tokens -----------------------------------------------------------------------------------
    def index_dashboard(self, user, dash):
        for device in dash.devices:
            device.status = "OFFLINE"
            if device.token:
                self.tokens[device.token] = TokenRef(user, dash, device)
        if dash.shared_token:
            self.share_tokens[dash.shared_token] = TokenRef(user, dash, None)

    def unindex_dashboard(self, dash):
        for device in dash.devices:
            self.forget_token(device)
        self.share_tokens.pop(dash.shared_token or "", None)
        for token in [t for t in self.provisional if t in self.tokens and self.tokens[t].dash is dash]:
            del self.provisional[token], self.tokens[token]    # a device not yet in it cannot join it

    def assign_token(self, user, dash, device):
        self.forget_token(device)
        device.token = new_token()
        self.tokens[device.token] = TokenRef(user, dash, device)
        return device.token

    def set_token(self, user, dash, device, token):
        """Give a device a token chosen by the administrator (upstream's token/assign)."""
        self.forget_token(device)
        device.token = token
        self.tokens[token] = TokenRef(user, dash, device)
        self.close_hardware(user, dash.id, device.id)
        self.mark_dirty(user)

    def forget_token(self, device):
        if device.token and device.token in self.tokens:
            del self.tokens[device.token]

    def resolve_token(self, token):
        return self.tokens.get(token)

    # -- share and provisioning tokens ------------------------------------------------------------
    def refresh_share_token(self, user, dash):
        """A new share token for the dashboard; the old one stops working at once."""
        self.share_tokens.pop(dash.shared_token or "", None)
        dash.shared_token = new_token()
        self.share_tokens[dash.shared_token] = TokenRef(user, dash, None)
        return dash.shared_token

    def resolve_share_token(self, token):
        return self.share_tokens.get(token)

    def assign_provisional_token(self, user, dash, device, now_ms):
        """A temporary token for a device not yet in the dashboard (GET_PROVISION_TOKEN)."""
        token = self.assign_token(user, dash, device)
        self.provisional[token] = now_ms
        return token

    def claim_provisional(self, ref):
        """First login with a temporary token: the device joins its dashboard, the token is kept."""
        if self.provisional.pop(ref.device.token, None) is None:
            return
        if ref.dash.device(ref.device.id) is None:
            ref.dash.devices.append(ref.device)
        self.mark_dirty(ref.user)

    def purge_provisional(self, now_ms, max_age_ms):
        """Forget temporary tokens issued more than `max_age_ms` ago and never used."""
        for token, issued in list(self.provisional.items()):
            if now_ms - issued > max_age_ms:
                del self.provisional[token]
                self.tokens.pop(token, None)

    # -- sessions ---------------------------------------------------------------------------------
    def session(self, user):
        session = self.sessions.get(user.key)
        if session is None:
            session = self.sessions[user.key] = UserSession(user)
        return session

    def existing_session(self, user):
        return self.sessions.get(user.key)

    def drop_if_empty(self, session):
        if not session.apps and not session.hardware:
            self.sessions.pop(session.user.key, None)

    def close_all(self, user, reason):
        session = self.existing_session(user)
        if session is not None:
            for connection in list(session.apps) + list(session.hardware):
                connection.close(reason)

    def close_hardware(self, user, dash_id, device_id=None):
        """Close the hardware connections of a dashboard (or one device of it)."""
        session = self.existing_session(user)
        if session is None:
            return
        for hw in list(session.hardware):
            if hw.dash.id == dash_id and (device_id is None or hw.device.id == device_id):
                hw.close("device removed or token changed")
