"""Text bodies: `\\0`-separated fields, pin addresses and `dashId-targetId` prefixes (commands.md §3)."""
from .commands import illegal_command

SEP = "\0"
SEP_BYTES = b"\0"

PIN_TYPES = {"d": "DIGITAL", "a": "ANALOG", "v": "VIRTUAL"}
PIN_LETTERS = {"DIGITAL": "d", "ANALOG": "a", "VIRTUAL": "v"}
MAX_PIN = 255


def split(body, maxsplit=-1):
    return body.split(SEP, maxsplit)


def join(*fields):
    return SEP.join(fields)


INT_MIN, INT_MAX = -2**31, 2**31 - 1
LONG_MIN, LONG_MAX = -2**63, 2**63 - 1


def parse_int(text):
    """Java's Integer.parseInt: optional sign and ASCII digits in the 32-bit range; else ILLEGAL_COMMAND."""
    return _parse_java_integer(text, INT_MIN, INT_MAX)


def parse_long(text):
    """Java's Long.parseLong (widget ids go beyond 32 bits); else ILLEGAL_COMMAND."""
    return _parse_java_integer(text, LONG_MIN, LONG_MAX)


def _parse_java_integer(text, low, high):
    sign = text[:1]
    digits = text[1:] if sign in ("-", "+") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise illegal_command(f"{text[:20]!r} is not a number")
    digits = digits.lstrip("0") or "0"
    # Longer than the limit's own digits means out of range (and keeps int() far from its 4300-digit cap).
    value = int(digits) if len(digits) <= len(str(high)) else high + 1
    if sign == "-":
        value = -value
    if not low <= value <= high:
        raise illegal_command(f"{text[:20]!r} is out of range")
    return value


def parse_pin_type(letter):
    pin_type = PIN_TYPES.get(letter.lower())
    if pin_type is None:
        raise illegal_command(f"unknown pin type {letter!r}")
    return pin_type


def parse_pin(text):
    pin = parse_int(text)
    if not 0 <= pin <= MAX_PIN:
        raise illegal_command(f"pin {pin} outside 0-{MAX_PIN}")
    return pin


def parse_target(field):
    """`dashId` or `dashId-targetId` → (dash_id, target_id); a missing target is device 0."""
    dash, sep, target = field.partition("-") if not field.startswith("-") else _split_after_sign(field)
    return parse_int(dash), parse_int(target) if sep else 0


def _split_after_sign(field):
    dash, sep, target = field[1:].partition("-")
    return "-" + dash, sep, target
