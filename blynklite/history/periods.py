"""Graph periods (upstream GraphPeriod, spec/storage.md §6.2): name → (points, granularity).

LIVE reads the in-memory cache of the last raw values; every other period reads one history file.
"""
from .files import DAILY, HOURLY, MINUTE

LIVE = "LIVE"
PERIODS = {
    LIVE: (60, MINUTE),
    "FIFTEEN_MINUTES": (15, MINUTE),
    "THIRTY_MINUTES": (30, MINUTE),
    "ONE_HOUR": (60, MINUTE),
    "THREE_HOURS": (180, MINUTE),
    "SIX_HOURS": (360, MINUTE),
    "TWELVE_HOURS": (720, MINUTE),
    "DAY": (1440, MINUTE),
    "THREE_DAYS": (72, HOURLY),
    "WEEK": (168, HOURLY),
    "TWO_WEEKS": (336, HOURLY),
    "MONTH": (720, HOURLY),
    "THREE_MONTHS": (2160, HOURLY),
    "ALL": (8640, HOURLY),
    "N_DAY": (24, HOURLY),
    "TWO_DAYS": (48, HOURLY),
    "N_THREE_DAYS": (72, HOURLY),
    "N_WEEK": (7, DAILY),
    "N_TWO_WEEKS": (14, DAILY),
    "N_MONTH": (30, DAILY),
    "N_THREE_MONTHS": (90, DAILY),
    "SIX_MONTHS": (180, DAILY),
    "ONE_YEAR": (360, DAILY),
}
# What the app selects when a Superchart's JSON names no periods (upstream default).
DEFAULT_SELECTED = ("LIVE", "ONE_HOUR", "SIX_HOURS", "N_DAY", "N_WEEK", "N_MONTH", "N_THREE_MONTHS")
