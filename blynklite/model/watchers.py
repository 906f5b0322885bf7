"""Who watches a pin: the one place every pin write passes through after it is stored, and the per-pin
index that says, in one dict lookup, which features want to hear about it.

Every pin write - from a device, an app, the HTTP API, a bridge, a Bluetooth resend, a Timer, an
Eventor action or a webhook answer - ends in `PinWatchers.written(...)` (through
`Server.pin_written` or, on the hardware hot path, directly). Features hook in two ways:

* `add_provider(provider)`: `provider(user, dash)` yields `(device_id, pin_type, pin, watcher)` for
  the pins it watches on that dashboard (Eventor rules, WebHook widgets, history streams). The answers
  are collected into a per-dashboard index keyed by the pinsStorage key `"dashId-deviceId-<t><pin>"`,
  built at the first write after the dashboard changed (`DashBoard.widgets_changed()` drops it).
* `watch_every_write(callback)`: for features that need every write (raw rows for PostgreSQL).

A watcher is either a plain callable or a `Watch` (an object with a `pin_written` method, e.g. a
history stream). Both are called with plain arguments, no object is made per write:
`(user, dash, device_id, pin_type, pin, value, source, origin)` - `value` is the text stored, `source`
one of the constants below, `origin` the session that sent it (None for HTTP, timers and the server's
own actions). A watcher must not raise (a raise is logged and swallowed, so one broken feature never
disturbs the write or the other watchers).

One index entry per pin, shared by its watchers: a pin with a single `Watch` maps straight to it (no
tuple, no wrapper); any other pin maps to one `Fanout` holding its watchers.

Owns: the provider and callback lists and the per-dashboard indexes (stored on `dash.watch_index`).
Never does: storing values, sending frames, scanning widgets on a write.

Invariant (the hot path): a write costs one dict lookup on the dashboard's index and nothing more
when nobody watches that pin, and one call to its entry when somebody does (handlers/hardware.py makes
that lookup and call inline, as `written` does: `dash.watch_index`, `index.get(key)`, `watchers.every`);
indexes are rebuilt only when a dashboard changes or a provider is added, never per write; a watched
write allocates nothing here.
"""
from ..codec.body import PIN_LETTERS
from ..logger import get_logger

log = get_logger("blynklite.watchers")

# Where a write came from (a watcher's `source` argument): features decide by it (webhooks skip HTTP writes,
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


class Watch:
    """An index entry that takes a pin's writes itself, e.g. a history stream: the index holds it
    directly. A subclass defines `pin_written(user, dash, device_id, pin_type, pin, value, source,
    origin)` and its own `__slots__`. One that already holds its pin's index key string answers it from
    `watch_key`, and the index keys the pin by that very object (one string per pin, not two)."""
    __slots__ = ()
    watch_key = None


class Fanout(Watch):
    """The index entry of a pin with several watchers, or with plain callables: calls each in turn, a
    failing one logged and skipped."""
    __slots__ = ("watchers",)

    def __init__(self, watchers):
        self.watchers = tuple(w.pin_written if isinstance(w, Watch) else w for w in watchers)

    def pin_written(self, user, dash, device_id, pin_type, pin, value, source, origin):
        for watcher in self.watchers:
            try:
                watcher(user, dash, device_id, pin_type, pin, value, source, origin)
            except Exception:
                failed(watcher, source, pin_type, pin)


def index_key(dash_id, device_id, pin_type, pin):
    """The same string as the pinsStorage key, which the hot path already holds per pin."""
    return f"{dash_id}-{device_id}-{PIN_LETTERS[pin_type]}{pin}"


class PinWatchers:
    __slots__ = ("hub", "_providers", "every", "_every_fanout")

    def __init__(self, hub):
        self.hub = hub
        self._providers = []
        self.every = ()         # callbacks for every write (read by the hot path: keep it a tuple)
        self._every_fanout = Fanout(())

    # -- registration -----------------------------------------------------------------------------
    def add_provider(self, provider):
        """`provider(user, dash)` → iterable of (device_id, pin_type, pin, watcher)."""
        self._providers.append(provider)
        self.forget_all()

    def watch_every_write(self, callback):
        self.every = self.every + (callback,)
        self._every_fanout = Fanout(self.every)

    def forget_all(self):
        """Every dashboard's index is rebuilt at its next write (after a provider was added)."""
        for user in self.hub.users.values():
            for dash in user.profile.dashboards:
                dash.watch_index = None

    # -- the write path ---------------------------------------------------------------------------
    def written(self, user, dash, device_id, pin_type, pin, key, value, source, origin=None):
        """A value was stored for `key` (= index_key(...)); tell whoever watches it. (The hardware hot
        path does the same inline: handlers/hardware.py.)"""
        entry = self.index_of(user, dash).get(key)
        if entry is not None:
            try:
                entry.pin_written(user, dash, device_id, pin_type, pin, value, source, origin)
            except Exception:
                failed(entry, source, pin_type, pin)
        if self.every:
            self.tell_every(user, dash, device_id, pin_type, pin, value, source, origin)

    def tell_every(self, user, dash, device_id, pin_type, pin, value, source, origin):
        """The `watch_every_write` callbacks, through one Fanout of them."""
        self._every_fanout.pin_written(user, dash, device_id, pin_type, pin, value, source, origin)

    def index_of(self, user, dash):
        """The dashboard's index {pin key: entry}, built when the dashboard changed."""
        index = dash.watch_index
        return self._build(user, dash) if index is None else index

    def watched(self, user, dash, key):
        """The index entry of `key`: a `Watch` (or `Fanout`), None when nobody watches it (tests, the
        history's LIVE lookups)."""
        return self.index_of(user, dash).get(key)

    def _build(self, user, dash):
        found = {}
        for provider in self._providers:
            try:
                for device_id, pin_type, pin, watcher in provider(user, dash):
                    if pin_type in PIN_LETTERS and isinstance(pin, int):
                        key = index_key(dash.id, device_id, pin_type, pin)
                        if isinstance(watcher, Watch) and watcher.watch_key == key:
                            key = watcher.watch_key
                        watchers = found.get(key)
                        if watchers is None:
                            found[key] = watcher
                        elif isinstance(watchers, list):
                            watchers.append(watcher)
                        else:
                            found[key] = [watchers, watcher]
            except Exception:
                log.exception("pin watcher provider %r failed for dashboard %s of %s",
                              provider, dash.id, user.email)
        for key, watchers in found.items():
            if not isinstance(watchers, Watch):
                found[key] = Fanout(watchers if isinstance(watchers, list) else (watchers,))
        dash.watch_index = found or _EMPTY
        return dash.watch_index


def failed(watcher, source, pin_type, pin):
    """A watcher raised: logged with its traceback, and the write goes on."""
    log.exception("pin watcher %r failed on %s %s%s", watcher, source, PIN_LETTERS.get(pin_type, "?"), pin)
