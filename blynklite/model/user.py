"""User and Profile (spec/app.md §5.1–5.2, spec/storage.md §2): one account and everything it owns."""
from .dashboard import DashBoard
from .json_shape import Field, read_fields, write_fields

FIELDS = (
    Field("name", "name"),
    Field("email", "email"),
    Field("appName", "app_name", "Blynk"),
    Field("region", "region", "local"),
    Field("ip", "ip"),
    Field("pass", "password"),
    Field("lastModifiedTs", "last_modified_ts", 0, True),
    Field("lastLoggedIP", "last_logged_ip"),
    Field("lastLoggedAt", "last_logged_at", 0, True),
    Field("isFacebookUser", "is_facebook_user", False, True),
    Field("isSuperAdmin", "is_super_admin", False, True),
    Field("energy", "energy", 2000, True),
)


class Profile:
    __slots__ = ("dashboards", "apps", "pins_storage", "extra")

    def __init__(self):
        self.dashboards = []
        self.apps = []
        self.pins_storage = {}
        self.extra = {}

    @classmethod
    def from_json(cls, data):
        profile = cls()
        data = dict(data or {})
        profile.dashboards = [DashBoard.from_json(d) for d in data.pop("dashBoards", None) or []]
        profile.apps = data.pop("apps", None) or []
        profile.pins_storage = dict(data.pop("pinsStorage", None) or {})
        profile.extra = data
        profile._migrate_dashboard_pin_storage()
        return profile

    def _migrate_dashboard_pin_storage(self):
        """Old profiles keep `deviceId-<t><pin>` maps per dashboard; move them up (storage.md §2)."""
        for dash in self.dashboards:
            old = dash.extra.pop("pinsStorage", None)
            for key, value in (old or {}).items():
                self.pins_storage.setdefault(f"{dash.id}-{key}", value)

    def to_json(self, private=True):
        out = {"dashBoards": [d.to_json(private) for d in self.dashboards]} if self.dashboards else {}
        if self.apps:
            out["apps"] = self.apps
        if private and self.pins_storage:
            out["pinsStorage"] = self.pins_storage
        out.update(self.extra)
        return out

    def dashboard(self, dash_id):
        for dash in self.dashboards:
            if dash.id == dash_id:
                return dash
        return None


class User:
    __slots__ = tuple(f.attr for f in FIELDS) + ("profile", "extra")

    @classmethod
    def new(cls, email, app_name, password_hash, energy):
        return cls.from_json({"name": email, "email": email, "appName": app_name,
                              "pass": password_hash, "energy": energy})

    @classmethod
    def from_json(cls, data):
        user = cls()
        extra = read_fields(user, data, FIELDS)
        user.profile = Profile.from_json(extra.pop("profile", None))
        extra.pop("id", None)
        user.extra = extra
        user.email = user.email or user.name
        if not user.email:
            raise ValueError("user has no email")
        return user

    @property
    def key(self):
        return (self.email, self.app_name)

    def to_json(self):
        out = write_fields(self, FIELDS)
        out["profile"] = self.profile.to_json()
        out.update(self.extra)
        out["id"] = f"{self.email}-{self.app_name}"
        return out
