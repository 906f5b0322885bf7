"""Blynk 0.41 command and status codes (spec/commands.md §1 and §2).

Plain integer class attributes rather than enums: they are compared on the hot path, where an
`IntEnum` member lookup costs an attribute fetch plus a descriptor call per frame.
"""


class Command:
    RESPONSE = 0
    REGISTER = 1
    LOGIN = 2
    REDEEM = 3
    HARDWARE_CONNECTED = 4
    PING = 6
    ACTIVATE_DASHBOARD = 7
    DEACTIVATE_DASHBOARD = 8
    REFRESH_TOKEN = 9
    TWEET = 12
    EMAIL = 13
    PUSH_NOTIFICATION = 14
    BRIDGE = 15
    HARDWARE_SYNC = 16
    BLYNK_INTERNAL = 17
    SMS = 18
    SET_WIDGET_PROPERTY = 19
    HARDWARE = 20
    CREATE_DASH = 21
    UPDATE_DASH = 22
    DELETE_DASH = 23
    LOAD_PROFILE_GZIPPED = 24
    APP_SYNC = 25
    SHARING = 26
    ADD_PUSH_TOKEN = 27
    EXPORT_GRAPH_DATA = 28
    HARDWARE_LOGIN = 29
    GET_SHARE_TOKEN = 30
    REFRESH_SHARE_TOKEN = 31
    SHARE_LOGIN = 32
    CREATE_WIDGET = 33
    UPDATE_WIDGET = 34
    DELETE_WIDGET = 35
    GET_ENERGY = 36
    ADD_ENERGY = 37
    UPDATE_PROJECT_SETTINGS = 38
    ASSIGN_TOKEN = 39
    GET_SERVER = 40
    CONNECT_REDIRECT = 41
    CREATE_DEVICE = 42
    UPDATE_DEVICE = 43
    DELETE_DEVICE = 44
    GET_DEVICES = 45
    CREATE_TAG = 46
    UPDATE_TAG = 47
    DELETE_TAG = 48
    GET_TAGS = 49
    MOBILE_GET_DEVICE = 50
    UPDATE_FACE = 51
    CREATE_APP = 55
    UPDATE_APP = 56
    DELETE_APP = 57
    GET_PROJECT_BY_TOKEN = 58
    EMAIL_QR = 59
    GET_ENHANCED_GRAPH_DATA = 60
    DELETE_ENHANCED_GRAPH_DATA = 61
    GET_CLONE_CODE = 62
    GET_PROJECT_BY_CLONE_CODE = 63
    HARDWARE_LOG_EVENT = 64
    HARDWARE_RESEND_FROM_BLUETOOTH = 65
    LOGOUT = 66
    CREATE_TILE_TEMPLATE = 67
    UPDATE_TILE_TEMPLATE = 68
    DELETE_TILE_TEMPLATE = 69
    GET_WIDGET = 70
    DEVICE_OFFLINE = 71
    OUTDATED_APP_NOTIFICATION = 72
    GET_PROVISION_TOKEN = 74
    DELETE_DEVICE_DATA = 76
    RESET_PASSWORD = 81

    # Codes at or above this close the connection without a reply (spec/framing.md §2.4).
    FIRST_INVALID = 100


class Status:
    OK = 200
    QUOTA_LIMIT = 1
    ILLEGAL_COMMAND = 2
    USER_NOT_REGISTERED = 3
    USER_ALREADY_REGISTERED = 4
    USER_NOT_AUTHENTICATED = 5
    NOT_ALLOWED = 6
    DEVICE_NOT_IN_NETWORK = 7
    NO_ACTIVE_DASHBOARD = 8
    INVALID_TOKEN = 9
    ILLEGAL_COMMAND_BODY = 11
    NOTIFICATION_INVALID_BODY = 13
    NOTIFICATION_NOT_AUTHORIZED = 14
    NOTIFICATION_ERROR = 15
    NO_DATA = 17
    SERVER_ERROR = 19
    ENERGY_LIMIT = 21
    FACEBOOK_USER_LOGIN_WITH_PASS = 22


class MsgId:
    """Message ids the server uses for messages it originates (spec/framing.md §2.5)."""
    PIN_MODE = 1
    DEVICE_OFFLINE = 0
    APP_SYNC = 1111
    INTERNAL = 7777
    READING_WIDGET = 7778
    EVENTOR = 888
    HTTP = 111


def command_name(code):
    """Readable name of a command code, for logs and statistics."""
    return _NAMES.get(code, str(code))


_NAMES = {v: k for k, v in vars(Command).items() if k.isupper() and k != "FIRST_INVALID"}


class StatusError(Exception):
    """A request that must be answered with `status` (spec/commands.md §2.1)."""

    def __init__(self, status, reason=""):
        super().__init__(reason or f"status {status}")
        self.status = status


def illegal_command(reason=""):
    return StatusError(Status.ILLEGAL_COMMAND, reason)


def illegal_body(reason=""):
    return StatusError(Status.ILLEGAL_COMMAND_BODY, reason)


def not_allowed(reason=""):
    return StatusError(Status.NOT_ALLOWED, reason)
