"""Device (spec/app.md §5.3): a board within a dashboard, known to the world by its token."""
from .json_shape import Field, read_fields, write_fields

ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
DEFAULT_BUFF_IN = 250

PUBLIC_FIELDS = (
    Field("id", "id", 0, True),
    Field("name", "name"),
    Field("boardType", "board_type"),
    Field("address", "address"),
    Field("vendor", "vendor"),
    Field("connectionType", "connection_type"),
    Field("iconName", "icon_name"),
    Field("isUserIcon", "is_user_icon", False, True),
)
PRIVATE_FIELDS = (
    Field("token", "token"),
    Field("status", "status", OFFLINE),
    Field("disconnectTime", "disconnect_time", 0, True),
    Field("connectTime", "connect_time", 0, True),
    Field("firstConnectTime", "first_connect_time", 0, True),
    Field("dataReceivedAt", "data_received_at", 0, True),
    Field("lastLoggedIP", "last_logged_ip"),
    Field("hardwareInfo", "hardware_info"),
    Field("deviceOtaInfo", "device_ota_info"),
)
ALL_FIELDS = PUBLIC_FIELDS + PRIVATE_FIELDS
# Upstream's Device declares its fields in this order and Jackson writes them so (no creator, fields only).
JAVA_ORDER = ("id", "name", "boardType", "address", "token", "vendor", "connectionType", "status",
              "disconnectTime", "connectTime", "firstConnectTime", "dataReceivedAt", "lastLoggedIP",
              "hardwareInfo", "deviceOtaInfo", "iconName", "isUserIcon")
_BY_JSON = {f.json: f for f in ALL_FIELDS}
JAVA_FIELDS = tuple(_BY_JSON[name] for name in JAVA_ORDER)
PUBLIC_JAVA_FIELDS = tuple(f for f in JAVA_FIELDS if f in PUBLIC_FIELDS)
# Fields UPDATE_DEVICE copies from the app's JSON (spec/app.md §4.8).
UPDATABLE = ("name", "vendor", "board_type", "address", "connection_type", "icon_name", "is_user_icon")


class Device:
    __slots__ = tuple(f.attr for f in ALL_FIELDS) + ("extra",)

    @classmethod
    def from_json(cls, data):
        device = cls()
        device.extra = read_fields(device, data, ALL_FIELDS)
        if not isinstance(device.id, int):
            raise ValueError("device id must be a number")
        device.status = device.status or OFFLINE   # Java's field initializer: a device always has a status
        return device

    def to_json(self, private=True):
        out = write_fields(self, JAVA_FIELDS if private else PUBLIC_JAVA_FIELDS)
        out.update(self.extra)
        return out

    def status_json(self):
        """The GET_DEVICES view (spec/app.md §4.8)."""
        out = self.to_json()
        for key in ("firstConnectTime", "lastLoggedIP", "deviceOtaInfo", "address"):
            out.pop(key, None)
        return out

    @property
    def buff_in(self):
        info = self.hardware_info
        return info.get("buffIn", DEFAULT_BUFF_IN) if info else DEFAULT_BUFF_IN

    def reset_for_new_token(self):
        self.status = OFFLINE
        self.disconnect_time = self.connect_time = self.first_connect_time = 0
        self.data_received_at = 0
        self.last_logged_ip = None
        self.hardware_info = None
        self.token = None
