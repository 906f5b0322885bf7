"""Port unification: decide from the first 5 bytes what a connection speaks (spec/framing.md §3).

The decision never consumes bytes; the chosen pipeline then parses the same bytes from the start.
"""

PEEK_SIZE = 5

HTTP_METHOD_PREFIXES = frozenset((b"GET ", b"POST", b"PUT ", b"HEAD", b"OPTI", b"PATC", b"DELE",
                                  b"TRAC", b"CONN"))
# HARDWARE_LOGIN or LOGIN with message id 1 and a 32-byte token body.
HARDWARE_LOGIN_PREFIXES = frozenset((b"\x1d\x00\x01\x00\x20", b"\x02\x00\x01\x00\x20"))

HTTP = "http"
HARDWARE = "hardware"
APP = "app"


def detect(first_bytes, app_allowed):
    """Return HTTP, HARDWARE or APP for the first PEEK_SIZE bytes of a connection.

    `app_allowed` is true on the TLS port; on the plain port anything that is not HTTP is hardware.
    """
    head = bytes(first_bytes[:PEEK_SIZE])
    if len(head) < PEEK_SIZE:
        raise ValueError("detect() needs the first 5 bytes")
    if head[:4] in HTTP_METHOD_PREFIXES:
        return HTTP
    if head in HARDWARE_LOGIN_PREFIXES or not app_allowed:
        return HARDWARE
    return APP
