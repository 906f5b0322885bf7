"""The server: listeners, sessions' entry and exit, routing between apps and devices, and jobs.

Owns: the reactor, the hub, the profile store, the worker pool and the listening sockets. Handlers
call the routing methods here (`forward_to_apps`, `device_logged_in`, ...); nothing here parses.
"""
import os
import socket
import time

from .codec import frames, sniffer
from .codec.commands import Command, MsgId, Status
from .handlers.app import AppSession
from .handlers.hardware import HardwareSession, mark_offline, mark_online
from .automation import Automation
from .hub import Hub
from .handlers import password_reset, pins
from .model.watchers import PinWatchers, index_key
from .model.widgets import configure_memory
from .net.connection import Connection
from .net.listener import Listener
from .sessions import login_guard
from .net.reactor import Reactor
from .net.workers import WorkerPool
from .sessions.sniffer import Sniffer
from .storage.profiles import ProfileStore
from .logger import get_logger

log = get_logger("blynklite")

PLAIN, TLS_SHARED, TLS_HARDWARE = "plain", "tls", "hardware-tls"
IDLE_SWEEP_PERIOD = 1.0
HOUR = 3600.0
DAY = 24 * HOUR


class Server:
    def __init__(self, config, data_folder, tls, clock=None):
        self.config = config
        self.reactor = Reactor(clock)
        self.hub = Hub(config)
        self.watchers = PinWatchers(self.hub)   # who watches a pin write (model/watchers.py)
        self.login_guard = login_guard.LoginGuard(config, self.reactor)
        self.automation = Automation(self)      # timers, Eventor, webhooks, reading widgets
        configure_memory(config["terminal.strings.pool.size"], config["map.strings.pool.size"],
                         config["lcd.strings.pool.size"], config["table.rows.pool.size"])
        self.store = ProfileStore(data_folder)
        self.workers = WorkerPool(self.reactor, config["blocking.processor.thread.pool.limit"],
                                  config["notifications.queue.limit"])
        self.tls = tls  # certs.ServerTLS
        self.stats = [0] * 256
        # Upstream's two counters without a command code (handlers/admin_stats.py), reset by the minute job:
        self.app_total = 0    # app messages after login (AppSession.handle)
        self.mqtt_total = 0   # MQTT packets after CONNECT (sessions/mqtt.py)
        self.connections = set()
        self.listeners = []
        self._saving = set()
        self._next_backup = 0.0
        self._registrations = 0
        self._host = None
        self._web = None
        self._admin = None
        self._notifier = None
        self.ota = None   # handlers/ota.OtaUpdates, made by the first OTA request
        self.acme = None  # tls/acme.LetsEncrypt when automatic certificates are on
        self.history = None   # history/recorder.History, started by listen()
        self.stats_minute = None   # handlers/stats_minute.StatsMinute, with enable.db only

    # -- start and stop ---------------------------------------------------------------------------
    def load_users(self):
        for user in self.store.load_all():
            user.ip = self.public_host()
            self.hub.add_user(user)
        password_reset.load_pool(self)          # reset tokens pending at the last shutdown
        return len(self.hub.users)

    def listen(self):
        address = self.config["listen.address"]
        ports = ((self.config["http.port"], PLAIN), (self.config["https.port"], TLS_SHARED),
                 (self.config["hardware.ssl.port"], TLS_HARDWARE))
        for port, kind in ports:
            if port:
                self.listeners.append(Listener(self.reactor, address, port, kind, self.on_accept))
        if self.config["hardware.mqtt.port"]:
            from .sessions import mqtt
            self.listeners.append(mqtt.open_listener(self, address, self.config["hardware.mqtt.port"]))
        from .tls import acme
        self.acme = acme.start(self)
        self.reactor.call_every(IDLE_SWEEP_PERIOD, self.close_idle_connections)
        self.automation.start()
        self.reactor.call_every(self.config["profile.save.worker.period"] / 1000, self.save_changed)
        self.reactor.call_every(HOUR, self._reset_registration_window)
        from .history.recorder import History
        self.history = History(self)
        self.history.start()
        if self.history.database is not None:
            from .handlers.stats_minute import StatsMinute
            self.stats_minute = StatsMinute(self, self.history.database)
            self.stats_minute.start()
        self.reactor.call_every(login_guard.LOG_INTERVAL, self.login_guard.sweep)

    def shutdown(self):
        for listener in self.listeners:
            listener.close()
        for conn in list(self.connections):
            conn.close("server shutting down")
        self._drain_closing_connections()
        # Background saves finish first; a user one of them was writing may have changed since,
        # and one may have failed, so each of those is written again here.
        self.workers.shutdown(wait=True)
        if self.stats_minute is not None:
            self.stats_minute.stop()
        if self.history is not None:
            self.history.stop()
        self.hub.dirty.update(self._saving)
        self._saving.clear()
        password_reset.save_pool(self)
        return self.save_changed(synchronous=True)

    def _drain_closing_connections(self, limit=1.0):
        deadline = time.monotonic() + limit
        while any(not c.closed for c in self.connections) and time.monotonic() < deadline:
            self.reactor.run_once()
        for conn in self.connections:
            conn.abort("server shut down")

    # -- accepting --------------------------------------------------------------------------------
    def on_accept(self, sock, peer, kind):
        conn = Connection(self.reactor, sock, peer, kind, self.tls if kind != PLAIN else None)
        conn.protocol = Sniffer(self, conn, app_allowed=(kind == TLS_SHARED))
        self.connections.add(conn)

    def new_session(self, kind, conn):
        if kind == sniffer.HTTP:
            from .sessions.http import HttpSession
            return HttpSession(self, conn, secure=conn.port_kind == TLS_SHARED)
        if kind == sniffer.HARDWARE:
            return HardwareSession(self, conn)
        return AppSession(self, conn)

    def close_idle_connections(self):
        now = self.reactor.now
        for conn in list(self.connections):
            if conn.closed:
                self.connections.discard(conn)
            elif conn.deadline and now > conn.deadline:
                log.info("%s did not log in or finish its request in time; closing", conn)
                conn.abort("login or request timeout")
                self.connections.discard(conn)
            elif conn.idle_timeout and now - conn.last_read > conn.idle_timeout:
                log.info("%s idle for %ss; closing", conn, conn.idle_timeout)
                conn.abort("read idle timeout")
                self.connections.discard(conn)

    # -- devices ----------------------------------------------------------------------------------
    def device_logged_in(self, session, ref, msg_id):
        user, dash, device = ref.user, ref.dash, ref.device
        session.user, session.dash, session.device = user, dash, device
        session.logged_in()
        session.prefix = f"{dash.id}-{device.id}\0".encode()
        session.buff_in = (device.hardware_info or {}).get("buffIn", 0)
        user_session = session.user_session = self.hub.session(user)
        user_session.hardware.append(session)
        ip = session.conn.peer[0] if self.config["allow.store.ip"] else None
        mark_online(device, self.reactor.wall_ms, ip)
        self.hub.mark_dirty(user)
        reply = frames.HARDWARE.response(msg_id, Status.OK)
        modes = dash.pin_modes(device.id) if dash.is_active else None
        if modes:   # upstream sends `pm` whatever the device's buffer
            # One write for both: blynklib reads one frame per recv() and drops the rest, and
            # would take a `pm` arriving on its own for the answer to its info message.
            reply += frames.HARDWARE.message(Command.HARDWARE, MsgId.PIN_MODE, modes.encode())
        session.conn.write(reply)
        body = f"{dash.id}-{device.id}".encode()
        for app in user_session.apps_seeing(dash.id):
            app.send(Command.HARDWARE_CONNECTED, msg_id, body)
        log.info("%s hardware joined.", user.email)

    def device_went_offline(self, session):
        """spec/commands.md §6: mark the device offline, then tell the apps (DEVICE_OFFLINE) and the
        phones (offline push), at once or, with a Notification widget's ignore period, only if the
        device is still offline when the period is over."""
        user, dash, device = session.user, session.dash, session.device
        user_session = self.hub.existing_session(user)
        if user_session is None:
            return
        if session in user_session.hardware:
            user_session.hardware.remove(session)
        if not user_session.hardware_of(dash.id, device.id):
            mark_offline(device, self.reactor.wall_ms)
            self.hub.mark_dirty(user)
        widget = dash.widget_of_type("NOTIFICATION")
        notify_phones = bool(widget and widget.get("notifyWhenOffline") and dash.is_active)
        delay = (widget.get("notifyWhenOfflineIgnorePeriod") or 0) / 1000 if notify_phones else 0
        if delay > 0:
            self.reactor.call_later(delay, self._tell_offline, user, dash, device, widget, True)
        else:
            self._tell_offline(user, dash, device, widget if notify_phones else None, False)
        self.hub.drop_if_empty(user_session)
        log.info("%s hardware left.", user.email)

    def _tell_offline(self, user, dash, device, widget, only_if_still_offline):
        user_session = self.hub.existing_session(user)
        if only_if_still_offline and user_session is not None and user_session.hardware_of(dash.id, device.id):
            return
        if user_session is not None and dash.is_active and not dash.is_notifications_off:
            body = f"{dash.id}-{device.id}".encode()
            for app in user_session.apps:
                app.send(Command.DEVICE_OFFLINE, MsgId.DEVICE_OFFLINE, body)
        if widget is not None and (widget.get("androidTokens") or widget.get("iOSTokens")):
            text = self.notifier.push_settings().offline_body
            self.notifier.push(user, widget, text.replace("{DEVICE_NAME}", device.name or "device"), dash.id)

    # -- apps -------------------------------------------------------------------------------------
    def app_joined(self, session):
        user = session.user
        session.logged_in()
        user_session = self.hub.session(user)
        user_session.apps.append(session)
        user.last_logged_at = self.reactor.wall_ms
        if self.config["allow.store.ip"]:
            user.last_logged_ip = session.conn.peer[0]
        self.hub.mark_dirty(user)
        self._tell_devices(user_session, b"acon")
        log.info("%s %s-app (%s-%s) joined.", user.email, user.app_name, session.os_name, session.version)

    def app_left(self, session):
        user_session = self.hub.existing_session(session.user)
        if user_session is None:
            return
        if session in user_session.apps:
            user_session.apps.remove(session)
        self._tell_devices(user_session, b"adis")
        self.hub.drop_if_empty(user_session)

    def _tell_devices(self, user_session, what):
        for hw in user_session.hardware:
            if hw.dash.is_active and hw.dash.is_app_connected_on:
                hw.deliver(Command.BLYNK_INTERNAL, MsgId.INTERNAL, what)

    # -- pin writes -------------------------------------------------------------------------------
    def pin_written(self, user, dash, device_id, pin_type, pin, value, source, origin=None):
        """The one entry point for a pin write: store it, then tell its watchers (model/watchers.py).
        Sending it to devices and apps stays with the caller, whose message ids differ."""
        pins.store_value(user, dash, device_id, pin_type, pin, value)
        self.watchers.written(user, dash, device_id, pin_type, pin, index_key(dash.id, device_id, pin_type, pin),
                              value, source, origin)

    # -- routing ----------------------------------------------------------------------------------
    def forward_to_apps(self, user, dash_id, command, msg_id, body):
        user_session = self.hub.sessions.get(user.key)
        if user_session is None or not user_session.apps:
            return
        frame = frames.APP.message(command, msg_id, body)
        for app in user_session.apps:
            if (app.share_dash_id is None or app.share_dash_id == dash_id) and app.conn.writable:
                if app.framing is frames.APP:
                    app.conn.write(frame)
                else:
                    app.send(command, msg_id, body)

    def forward_frame_to_apps(self, user_session, dash_id, command, msg_id, prefix, body):
        """The hot-path twin of forward_to_apps: the frame is built in one allocation."""
        frame = b"".join((frames.APP_HEADER.pack(command, msg_id, len(prefix) + len(body)), prefix, body))
        for app in user_session.apps:
            conn = app.conn
            if (app.share_dash_id is None or app.share_dash_id == dash_id) and conn.writable:
                if app.framing is frames.APP:
                    conn.write(frame)
                else:
                    app.send(command, msg_id, prefix + body)

    def echo_to_other_apps(self, sender, command, msg_id, body, dash_id=None):
        """Owner apps always; share apps only those of `dash_id` (all of them when it is None)."""
        user_session = self.hub.session(sender.user)
        for app in user_session.apps:
            shared_elsewhere = dash_id is not None and app.share_dash_id not in (None, dash_id)
            if app is not sender and not shared_elsewhere and app.conn.writable:
                app.send(command, msg_id, body)

    # -- HTTP and notifications: built at first use, so an idle server pays nothing for them -----
    @property
    def web(self):
        if self._web is None:
            from .handlers.web import PublicWeb
            self._web = PublicWeb(self)
        return self._web

    @property
    def admin(self):
        if self._admin is None:
            from .handlers.admin import AdminArea
            self._admin = AdminArea(self)
        return self._admin

    @property
    def notifier(self):
        if self._notifier is None:
            from .notifier import Notifier
            self._notifier = Notifier(self)
        return self._notifier

    def properties_path(self):
        """The server.properties in use, or ./server.properties when none was (the admin page saves there)."""
        source = self.config.source
        return source if source and not source.startswith("<") else os.path.abspath("server.properties")

    # -- accounts changed by the administrator ----------------------------------------------------
    def delete_user(self, user):
        self.hub.close_all(user, "account deleted")
        self.hub.remove_user(user)
        self._saving.discard(user)
        if self.history is not None:
            self.history.user_deleted(user)
        try:
            self.store.move_to_deleted(user.email, user.app_name)
        except OSError as error:
            log.error("could not move the profile of %s to deleted/: %s", user.email, error)

    def rename_user(self, user, new_email):
        """The e-mail is part of the account's key and file name: re-key it and move its file."""
        self.hub.close_all(user, "account renamed")
        self.hub.remove_user(user)
        old_email = user.email
        user.email = new_email
        self.hub.add_user(user)
        self.hub.mark_dirty(user)
        self.save_changed(synchronous=True)
        try:
            self.store.move_to_deleted(old_email, user.app_name)
        except OSError as error:
            log.error("could not move the old profile of %s: %s", old_email, error)

    # -- misc -------------------------------------------------------------------------------------
    def public_host(self):
        if self._host is None:
            self._host = self.config["server.host"] or detect_host(self.config["net.interface"])
        return self._host

    def registration_allowed(self):
        self._registrations += 1
        return self._registrations <= self.config["hourly.registrations.limit"]

    def _reset_registration_window(self):
        self._registrations = 0

    # -- saving -----------------------------------------------------------------------------------
    def save_changed(self, synchronous=False):
        """Write every changed profile: serialised here, written (fsync and all) on a worker, or
        here when `synchronous`. Returns the users that could not be written now; they stay dirty.

        A user whose profile cannot be serialised or written never stops any other user's save."""
        pending = [u for u in self.hub.dirty if u not in self._saving]
        if pending and not synchronous and self.reactor.now >= self._next_backup:
            self._next_backup = self.reactor.now + DAY
            self._backup_all()
        unsaved = []
        for user in pending:
            data = self._serialize(user)
            if data is None:
                unsaved.append(user)
                continue
            self.hub.dirty.discard(user)
            if synchronous:
                if not self._write_now(user, data):
                    unsaved.append(user)
                continue
            self._saving.add(user)
            submitted = self.workers.submit(self.store.write, user.email, user.app_name, data,
                                            on_done=lambda _r, error, u=user: self._saved(u, error))
            if not submitted:
                self._saving.discard(user)
                self.hub.dirty.add(user)
        return unsaved

    def _serialize(self, user):
        try:
            return self.store.serialize(user)
        except Exception as error:   # any fault in one profile's data must not stop the others
            log.error("could not serialise the profile of %s: %r; kept in memory, will retry",
                      user.email, error)
            return None

    def _backup_all(self):
        """Once a day, when something changed, every profile goes to backup/ (storage.md §2)."""
        snapshot = []
        for user in list(self.hub.users.values()):
            data = self._serialize(user)
            if data is not None:
                snapshot.append((user.email, user.app_name, data))

        def write_all():
            for email, app_name, data in snapshot:
                try:
                    self.store.write_backup(email, app_name, data)
                except OSError as error:
                    log.error("could not back up the profile of %s: %s", email, error)
        self.workers.submit(write_all)

    def _write_now(self, user, data):
        try:
            self.store.write(user.email, user.app_name, data)
            return True
        except Exception as error:
            log.error("could not save the profile of %s: %s; will retry", user.email, error)
            self.hub.dirty.add(user)
            return False

    def _saved(self, user, error):
        self._saving.discard(user)
        if error is not None:
            log.error("could not save the profile of %s: %s; will retry", user.email, error)
            self.hub.dirty.add(user)


def detect_host(interface_prefix):
    """IPv4 of the first interface named like `net.interface`, else the host's address."""
    try:
        for _, name in socket.if_nameindex():
            if name.startswith(interface_prefix):
                address = _ipv4_of(name)
                if address:
                    return address
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _ipv4_of(interface):
    try:
        import fcntl
        import struct
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", interface[:15].encode()))
        return socket.inet_ntoa(packed[20:24])
    except (OSError, ImportError):
        return None

