"""Statistics for the admin page (spec/behaviours.md §9): who is connected, messages per second,
per-command counters. Everything is computed when asked; an idle server keeps no stats timer."""
import time

from ..codec.commands import command_name
from . import http_common as H


class AdminStats:
    def __init__(self, server):
        self.server = server
        self._last_total = 0
        self._last_time = time.monotonic()
        self._rate = 0.0

    def messages_per_second(self):
        """Inbound messages per second since the previous call (at least a second ago)."""
        now, total = time.monotonic(), sum(self.server.stats)
        if now - self._last_time >= 1.0:
            self._rate = (total - self._last_total) / (now - self._last_time)
            self._last_total, self._last_time = total, now
        return round(self._rate, 1)

    def realtime(self, request, admin):
        sessions = list(self.server.hub.sessions.values())
        day_ago = self.server.reactor.wall_ms - 24 * 3600 * 1000
        return H.ok([{
            "oneMinRate": self.messages_per_second(),
            "registrations": len(self.server.hub.users),
            "connected": sum(1 for s in sessions if s.apps and s.hardware),
            "onlineApps": sum(1 for s in sessions if s.apps),
            "totalOnlineApps": sum(len(s.apps) for s in sessions),
            "onlineHards": sum(1 for s in sessions if s.hardware),
            "totalOnlineHards": sum(len(s.hardware) for s in sessions),
            "active": sum(1 for s in sessions if (s.user.last_modified_ts or 0) >= day_ago),
            "commands": self.command_counts(),
            "ioStat": {"queued": self.server.workers.queued, "completed": self.server.workers.completed},
        }])

    def command_counts(self):
        return {command_name(code): count for code, count in enumerate(self.server.stats) if count}

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
