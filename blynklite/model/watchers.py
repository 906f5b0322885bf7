"""Who watches a pin: the one place every pin write passes through after it is stored, and the per-pin
index that says, in one dict lookup, which features want to hear about it.

Every pin write - from a device, an app, the HTTP API, a bridge, a Bluetooth resend, a Timer, an
Eventor action or a webhook answer - ends in `PinWatchers.written(...)` (through
`Server.pin_written` or, on the hardware hot path, directly). Features hook in two ways:

* `add_provider(provider)`: `provider(user, dash)` yields `(device_id, pin_type, pin, callback)` for
  the pins it watches on that dashboard (Eventor rules, WebHook widgets, ...). The answers are
  collected into a per-dashboard index keyed by the pinsStorage key `"dashId-deviceId-<t><pin>"`,
  built at the first write after the dashboard changed (`DashBoard.widgets_changed()` drops it).
* `watch_every_write(callback)`: for features that need every write (history recording).

A callback gets one `PinWrite` and must not raise (a raise is logged and swallowed, so one broken
feature never disturbs the write or the other watchers).

Owns: the provider and callback lists and the per-dashboard indexes (stored on `dash.watch_index`).
Never does: storing values, sending frames, scanning widgets on a write.

Invariant (the hot path): a write costs one dict lookup on the dashboard's index and nothing more
when nobody watches that pin (handlers/hardware.py makes that lookup inline, before any call:
`dash.watch_index`, `key in index`, `watchers.every`); indexes are rebuilt only when a dashboard
changes or a provider is added, never per write.
"""
from ..codec.body import PIN_LETTERS
from ..logger import get_logger

log = get_logger("blynklite.watchers")

# Where a write came from (`PinWrite.source`): features decide by it (webhooks skip HTTP writes,
# history skips app writes as upstream, an Eventor action does not trigger the Eventor again).
DEVICE = "device"
APP = "app"
HTTP = "http"
BRIDGE = "bridge"
BLUETOOTH = "bluetooth"
TIMER = "timer"
EVENTOR = "eventor"
WEBHOOK = "webhook"

_EMPTY = {}


class PinWrite:
    """One stored pin write, as the watchers see it. `origin` is the session that sent it (None for
    HTTP, timers and the server's own actions)."""
    __slots__ = ("user", "dash", "device_id", "pin_type", "pin", "value", "source", "origin")

    def __init__(self, user, dash, device_id, pin_type, pin, value, source, origin):
        self.user = user
        self.dash = dash
        self.device_id = device_id
        self.pin_type = pin_type
        self.pin = pin
        self.value = value
        self.source = source
        self.origin = origin


def index_key(dash_id, device_id, pin_type, pin):
    """The same string as the pinsStorage key, which the hot path already holds per pin."""
    return f"{dash_id}-{device_id}-{PIN_LETTERS[pin_type]}{pin}"


class PinWatchers:
    __slots__ = ("hub", "_providers", "every")

    def __init__(self, hub):
        self.hub = hub
        self._providers = []
        self.every = ()         # callbacks for every write (read by the hot path: keep it a tuple)

    # -- registration -----------------------------------------------------------------------------
    def add_provider(self, provider):
        """`provider(user, dash)` → iterable of (device_id, pin_type, pin, callback)."""
        self._providers.append(provider)
        self.forget_all()

    def watch_every_write(self, callback):
        self.every = self.every + (callback,)

    def forget_all(self):
        """Every dashboard's index is rebuilt at its next write (after a provider was added)."""
        for user in self.hub.users.values():
            for dash in user.profile.dashboards:
                dash.watch_index = None

    # -- the write path ---------------------------------------------------------------------------
    def written(self, user, dash, device_id, pin_type, pin, key, value, source, origin=None):
        """A value was stored for `key` (= index_key(...)); tell whoever watches it."""
        index = dash.watch_index
        if index is None:
            index = self._build(user, dash)
        callbacks = index.get(key)
        if callbacks is None and not self.every:
            return
        write = PinWrite(user, dash, device_id, pin_type, pin, value, source, origin)
        for callback in self.every:
            _call(callback, write)
        for callback in callbacks or ():
            _call(callback, write)

    def watched(self, user, dash, key):
        """The callbacks watching `key` (for tests and the admin view)."""
        index = dash.watch_index
        if index is None:
            index = self._build(user, dash)
        return index.get(key, ())

    def _build(self, user, dash):
        index = {}
        for provider in self._providers:
            try:
                for device_id, pin_type, pin, callback in provider(user, dash):
                    if pin_type in PIN_LETTERS and isinstance(pin, int):
                        key = index_key(dash.id, device_id, pin_type, pin)
                        index[key] = index.get(key, ()) + (callback,)
            except Exception:
                log.exception("pin watcher provider %r failed for dashboard %s of %s",
                              provider, dash.id, user.email)
        dash.watch_index = index or _EMPTY
        return dash.watch_index


def _call(callback, write):
    try:
        callback(write)
    except Exception:
        log.exception("pin watcher %r failed on %s %s%s", callback, write.source,
                      PIN_LETTERS.get(write.pin_type, "?"), write.pin)
