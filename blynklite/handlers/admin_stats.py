"""Statistics (spec/behaviours.md §9): who is connected, messages per second, per-command counters.

Owns: the one computation of upstream's `Stat` (`session_stat` for the connection and activity figures,
`command_stat`/`http_stat` for the counters by upstream's names), used by the admin page on request and by
the minute job (handlers/stats_minute.py). Never does: reset a counter (only the minute job does, as
upstream's StatsWorker) or keep a timer (the admin page computes when asked).

Invariant: `messages_total` only grows, across the minute job's resets, so a rate taken from two readings
is never negative.
"""
import time

from ..codec.commands import Command, command_name
from . import http_common as H
from . import web

DAY_MS = 24 * 3600 * 1000
WEEK_MS = 7 * DAY_MS
MONTH_MS = 30 * DAY_MS      # upstream's "active month" is 30 days
RATE_WINDOW = 1.0           # seconds: the admin page's rate is taken over at least this long

# Upstream's CommandStat fields, by our command codes. 52-54 are statistics codes only: websocket data
# messages (sessions/websocket.py), Eventor actions run (automation/eventor.py), webhook calls made
# (automation/webhooks.py). appTotal and mqttTotal have no code: server.app_total and server.mqtt_total.
WEB_SOCKETS, EVENTOR, WEB_HOOKS = 52, 53, 54
# The admin page's names for the codes command_name does not know, and for the two counters without one.
REALTIME_NAMES = {WEB_SOCKETS: "webSockets", EVENTOR: "eventor", WEB_HOOKS: "webhooks"}
COMMAND_FIELDS = (
    (Command.RESPONSE, "response"), (Command.REDEEM, "redeem"), (Command.HARDWARE_CONNECTED, "hardwareConnected"),
    (Command.REGISTER, "register"), (Command.LOGIN, "login"), (Command.HARDWARE_LOGIN, "hardwareLogin"),
    (Command.LOAD_PROFILE_GZIPPED, "loadProfile"), (Command.APP_SYNC, "appSync"), (Command.SHARING, "sharing"),
    (None, "getToken"), (Command.PING, "ping"), (Command.ACTIVATE_DASHBOARD, "activate"),
    (Command.DEACTIVATE_DASHBOARD, "deactivate"), (Command.REFRESH_TOKEN, "refreshToken"), (None, "getGraphData"),
    (Command.EXPORT_GRAPH_DATA, "exportGraphData"), (Command.SET_WIDGET_PROPERTY, "setWidgetProperty"),
    (Command.BRIDGE, "bridge"), (Command.HARDWARE, "hardware"), (None, "getSharedDash"),
    (Command.GET_SHARE_TOKEN, "getShareToken"), (Command.REFRESH_SHARE_TOKEN, "refreshShareToken"),
    (Command.SHARE_LOGIN, "shareLogin"), (Command.CREATE_DASH, "createProject"),
    (Command.UPDATE_DASH, "updateProject"), (Command.DELETE_DASH, "deleteProject"),
    (Command.HARDWARE_SYNC, "hardwareSync"), (Command.BLYNK_INTERNAL, "internal"), (Command.SMS, "sms"),
    (Command.TWEET, "tweet"), (Command.EMAIL, "email"), (Command.PUSH_NOTIFICATION, "push"),
    (Command.ADD_PUSH_TOKEN, "addPushToken"), (Command.CREATE_WIDGET, "createWidget"),
    (Command.UPDATE_WIDGET, "updateWidget"), (Command.DELETE_WIDGET, "deleteWidget"),
    (Command.CREATE_DEVICE, "createDevice"), (Command.UPDATE_DEVICE, "updateDevice"),
    (Command.DELETE_DEVICE, "deleteDevice"), (Command.GET_DEVICES, "getDevices"), (Command.CREATE_TAG, "createTag"),
    (Command.UPDATE_TAG, "updateTag"), (Command.DELETE_TAG, "deleteTag"), (Command.GET_TAGS, "getTags"),
    (Command.ADD_ENERGY, "addEnergy"), (Command.GET_ENERGY, "getEnergy"), (Command.GET_SERVER, "getServer"),
    (Command.CONNECT_REDIRECT, "connectRedirect"), (WEB_SOCKETS, "webSockets"), (EVENTOR, "eventor"),
    (WEB_HOOKS, "webhooks"),
)
# Upstream's HttpStat fields, by the HTTP API statistics codes that handlers/web.py counts.
HTTP_FIELDS = (
    (web.HTTP_IS_HARDWARE_CONNECTED, "isHardwareConnected"), (web.HTTP_IS_APP_CONNECTED, "isAppConnected"),
    (web.HTTP_GET_PIN_DATA, "getPinData"), (web.HTTP_UPDATE_PIN_DATA, "updatePinData"), (web.HTTP_EMAIL, "email"),
    (web.HTTP_NOTIFY, "notify"), (web.HTTP_GET_PROJECT, "getProject"), (web.HTTP_QR, "qr"),
    (web.HTTP_GET_HISTORY_DATA, "getHistoryPinData"), (web.HTTP_TOTAL, "total"),
)


def messages_total(server):
    """Messages counted since the start: the live counters plus what the minute job reset. The per-route
    HTTP codes are a second count of a request already in HTTP_TOTAL, and a websocket message is counted
    again by its Blynk command, so both are left out (as upstream's meter leaves them out); appTotal and
    mqttTotal are not in the counters, as upstream keeps them out of its meter."""
    counters = server.stats
    job = server.stats_minute
    return (sum(counters) - sum(counters[code] for code in web.HTTP_METRICS.values()) - counters[WEB_SOCKETS]
            + (job.carried if job is not None else 0))


def session_stat(server, now_ms):
    """Upstream's connection and activity figures: sessions with an app and a device, with apps, with
    devices, and users having a session modified (the user or a dashboard) within a day, week, month."""
    stat = dict.fromkeys(("connected", "onlineApps", "totalOnlineApps", "onlineHards", "totalOnlineHards",
                          "active", "activeWeek", "activeMonth"), 0)
    for session in server.hub.sessions.values():
        stat["connected"] += bool(session.apps and session.hardware)
        stat["onlineApps"] += bool(session.apps)
        stat["totalOnlineApps"] += len(session.apps)
        stat["onlineHards"] += bool(session.hardware)
        stat["totalOnlineHards"] += len(session.hardware)
        age = now_ms - last_modified(session.user)
        stat["active"] += age < DAY_MS
        stat["activeWeek"] += age < WEEK_MS
        stat["activeMonth"] += age < MONTH_MS
    stat["registrations"] = len(server.hub.users)
    return stat


def last_modified(user):
    return max([user.last_modified_ts or 0] + [d.updated_at or 0 for d in user.profile.dashboards])


def command_stat(counters, app_total, mqtt_total):
    """Upstream's CommandStat from a copy of the counters; appTotal (app messages after login) and
    mqttTotal (MQTT packets after CONNECT) are counted apart from them, as upstream's, so they are given."""
    stat = {name: counters[code] if code is not None else 0 for code, name in COMMAND_FIELDS}
    stat["appTotal"], stat["mqttTotal"] = app_total, mqtt_total
    return stat


def http_stat(counters):
    return {name: counters[code] for code, name in HTTP_FIELDS}


def stat(server, counters, app_total, mqtt_total, rate, now_ms):
    """Upstream's Stat (the stats.log line, the three stat rows), in its field order."""
    sessions = session_stat(server, now_ms)
    return {"commands": command_stat(counters, app_total, mqtt_total), "http": http_stat(counters),
            "ioStat": {"queued": server.workers.queued, "completed": server.workers.completed},
            "oneMinRate": int(rate), "registrations": sessions.pop("registrations"), **sessions}


class AdminStats:
    def __init__(self, server):
        self.server = server
        self._last_total = messages_total(server)
        self._last_time = time.monotonic()
        self._rate = 0.0

    def messages_per_second(self):
        """Inbound messages per second since the previous call (at least RATE_WINDOW ago)."""
        now, total = time.monotonic(), messages_total(self.server)
        if now - self._last_time >= RATE_WINDOW:
            self._rate = (total - self._last_total) / (now - self._last_time)
            self._last_total, self._last_time = total, now
        return round(self._rate, 1)

    def realtime(self, request, admin):
        """The admin page's Stat: counters since the minute job's last reset (admin reads never reset)."""
        figures = session_stat(self.server, self.server.reactor.wall_ms)
        return H.ok([{
            "oneMinRate": self.messages_per_second(),
            **figures,
            "commands": {**self.command_counts(), **self.totals()},
            "http": http_stat(self.server.stats),
            "ioStat": {"queued": self.server.workers.queued, "completed": self.server.workers.completed},
        }])

    def command_counts(self):
        return {REALTIME_NAMES.get(code) or command_name(code): count
                for code, count in enumerate(self.server.stats) if count and code not in web.HTTP_CODES}

    def totals(self):
        """appTotal and mqttTotal when not 0: a second count of messages, so not in `messages`."""
        totals = (("appTotal", self.server.app_total), ("mqttTotal", self.server.mqtt_total))
        return {name: count for name, count in totals if count}

    def messages(self, request, admin):
        rows = [{"name": name, "count": count} for name, count in self.command_counts().items()]
        return H.ok(sorted(rows, key=lambda r: -r["count"]))

    def requests_per_user(self, request, admin):
        now = self.server.reactor.now
        rows = []
        for session in self.server.hub.sessions.values():
            app_rate = sum(a.meter.current(now) for a in session.apps)
            hard_rate = sum(h.meter.current(now) for h in session.hardware)
            if app_rate or hard_rate:
                rows.append({"name": session.user.email, "appRate": round(app_rate),
                             "hardRate": round(hard_rate)})
        return H.ok(rows)

    def connections(self, request, admin):
        """Every logged-in app and device connection, for the admin page's live table."""
        rows = []
        for session in self.server.hub.sessions.values():
            user = session.user
            for app in session.apps:
                rows.append({"type": "app", "email": user.email, "ip": app.conn.peer[0],
                             "name": f"{app.os_name or '?'} {app.version or ''}".strip()})
            for hw in session.hardware:
                rows.append({"type": "device", "email": user.email, "ip": hw.conn.peer[0],
                             "name": f"{hw.dash.name or ''} / {hw.device.name or ''}",
                             "since": hw.device.connect_time})
        return H.ok(rows)

    def ips(self, request, admin):
        rows = []
        for user in self.server.hub.users.values():
            name = f"{user.email}-{user.app_name}"
            if user.last_logged_ip:
                rows.append({"id": len(rows), "name": name, "ip": user.last_logged_ip, "type": "app"})
            for dash in user.profile.dashboards:
                for device in dash.devices:
                    if device.last_logged_ip:
                        rows.append({"id": len(rows), "name": name, "ip": device.last_logged_ip,
                                     "type": "hard"})
        return H.ok(rows)
