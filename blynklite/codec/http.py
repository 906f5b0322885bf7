"""HTTP/1.1, server side: requests in, response bytes out (RFC 9112), for the REST API and admin.

Owns: finding each request's head and body (Content-Length or chunked) in any chunking of the
stream, the keep-alive rules, the size limits, and writing responses. Never touches sockets,
clocks or logs, and never decides what a request means.

Theory of operation. `feed(data)` copies the bytes into a per-connection bytearray that exists only
while something is incomplete; `next_request()` moves a small state machine (head, body by length,
chunk size line, chunk data, chunk end, trailer) as far as the buffered bytes allow and returns one
Request, or None. Parsing is lazy, so pipelined requests wait in the buffer until asked for and the
caller answers them one at a time, in order; bytes after an upgrade request are never parsed as
HTTP (`take_unparsed()` hands them over). A chunked body moves out of the buffer chunk by chunk, so
nothing is parsed twice.

Limits are checked as bytes arrive, before they are buffered: a head that cannot end within
`max_header_bytes` is refused by `feed()` itself (431), a body announced over `max_body_bytes` (or
the request's own limit from `body_limit_for`) as soon as its length or chunk size is read (413).
The buffer therefore holds at most one incomplete head, chunk-size line or Content-Length body, plus
the latest feed.

Leniency, on purpose: bare LF line endings are accepted wherever CRLF is (RFC 9112 §2.2), and empty
lines before a request line are skipped. A bare CR, a control character in the head, obs-fold,
whitespace before a colon, and every ambiguous framing (Transfer-Encoding with Content-Length,
differing Content-Lengths, chunked in HTTP/1.0) are refused, since a proxy in front could read them
differently. The Host header is not required: Blynk hardware HTTP clients often leave it out.

Invariant: after an HttpError the parser is finished (every later call raises the same error); the
caller answers with that status and closes.
"""
import http
import re
import urllib.parse

# Netty's default maxHeaderSize (HttpServerCodec), which upstream keeps.
DEFAULT_MAX_HEADER_BYTES = 8192
# Upstream aggregates at most `web.request.max.size` (512 KiB) per request.
DEFAULT_MAX_BODY_BYTES = 524288
# Netty reads a chunk-size line, extensions included, with its initial-line limit (4096).
MAX_CHUNK_LINE_BYTES = 4096
# A Content-Length or chunk size with more digits than this is over any body limit we would set,
# and staying below it keeps int() far from CPython's 4300-digit conversion limit.
_MAX_LENGTH_DIGITS = 15

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _FAILED = range(7)

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_METHOD = re.compile(_TOKEN)
_VERSION = re.compile(r"HTTP/(\d)\.(\d)")
_FIELD = re.compile(r"^(" + _TOKEN + r"):[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_CHUNK_LINE = re.compile(r"([0-9A-Fa-f]+)[ \t]*(?:;.*)?")
# Control characters other than HTAB, and any CR that does not end a line (RFC 9112 §2.2).
_FORBIDDEN_IN_HEAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")
_FORBIDDEN_IN_TARGET = re.compile("[\x00-\x20\x7f]")
# Everything printable in ASCII stays as sent when raw non-ASCII target bytes are %-escaped.
_ASCII_SAFE = "".join(map(chr, range(0x21, 0x7F)))
_REASONS = {status.value: status.phrase for status in http.HTTPStatus}


class HttpError(Exception):
    """The peer sent something we must refuse: answer `status` with `message`, then close."""

    def __init__(self, status, message, headers=()):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.headers = tuple(headers)     # extra response headers, e.g. for a 426


class Request:
    """One parsed request. `path` is percent-decoded (UTF-8); `raw_path` is as sent."""
    __slots__ = ("method", "target", "raw_path", "path", "query", "version", "headers", "body",
                 "keep_alive")

    def __init__(self, method, target, version, headers, body=b""):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        raw_path, query = _split_target(target)
        self.raw_path = raw_path
        if not target.isascii():
            # curl and browsers' address bars send raw UTF-8; decode it as if it were %-escaped.
            raw_path = urllib.parse.quote(raw_path.encode("latin-1"), safe=_ASCII_SAFE)
            query = urllib.parse.quote(query.encode("latin-1"), safe=_ASCII_SAFE)
        self.path = urllib.parse.unquote(raw_path)
        self.query = urllib.parse.parse_qs(query, keep_blank_values=True)
        connection = self.tokens("connection") if any(k == "connection" for k, _ in headers) else ()
        if version == "HTTP/1.0":
            self.keep_alive = "keep-alive" in connection and "close" not in connection
        else:
            self.keep_alive = "close" not in connection

    def header(self, name, default=None):
        """The first value of header `name` (any case), or `default`."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def tokens(self, name):
        """The lower-cased comma-separated tokens of every `name` header, as a set."""
        name = name.lower()
        return {token.strip().lower() for key, value in self.headers if key == name
                for token in value.split(",")} - {""}

    def is_websocket_upgrade(self):
        return "websocket" in self.tokens("upgrade") and "upgrade" in self.tokens("connection")

    def __repr__(self):
        return f"<Request {self.method} {self.raw_path}>"


class RequestParser:
    """Incremental parser for one connection: `feed(data)`, then `next_request()` until None."""
    __slots__ = ("max_header_bytes", "max_body_bytes", "body_limit_for", "_buffer", "_state", "_scanned",
                 "_head", "_remaining", "_body", "_limit")

    def __init__(self, max_header_bytes=DEFAULT_MAX_HEADER_BYTES, max_body_bytes=DEFAULT_MAX_BODY_BYTES):
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        # Optional body_limit_for(request without its body) -> the bytes this request may send, in
        # place of max_body_bytes: a large upload for a signed-in admin, a small body for a request
        # without credentials. Decided before any of the body is buffered.
        self.body_limit_for = None
        self._limit = max_body_bytes
        self._buffer = None        # bytearray while bytes wait to be parsed, else None
        self._state = _HEAD
        self._scanned = 0          # how far the search for the end of the head (or trailer) looked
        self._head = None          # the Request whose body is being read; the HttpError once failed
        self._remaining = 0        # body bytes (Content-Length) or chunk bytes still to come
        self._body = None          # the chunked body gathered so far

    def feed(self, data):
        """Buffer `data` (bytes, bytearray or memoryview; copied). Raises HttpError(431) for a head
        that can no longer end within the limit."""
        if self._state == _FAILED:
            raise self._head
        if not len(data):
            return
        buffer = self._buffer
        have = len(buffer) if buffer is not None else 0
        # A head that fits ends with a blank line inside the first max_header_bytes + 2 bytes after the
        # empty lines that may precede it (skipped, not counted, by _read_head): look there, copy nothing more.
        limit = self.max_header_bytes + 2
        if self._state == _HEAD and have + len(data) > limit:
            limit += _leading_empty_lines(buffer if have else data)
        if self._state == _HEAD and have + len(data) > limit:
            window = (bytes(buffer[self._scanned:]) if have else b"") + bytes(data[:max(0, limit - have)])
            if _blank_line(window, 0)[0] < 0:
                self._fail(HttpError(431, "Request header fields too large."))
        if buffer is None:
            self._buffer = bytearray(data)
        else:
            buffer += data

    def next_request(self):
        """The next complete Request, or None until more bytes arrive. Raises HttpError."""
        if self._state == _FAILED:
            raise self._head
        if self._buffer is None:
            return None
        try:
            request = self._advance()
        except HttpError as error:
            self._fail(error)
        if not self._buffer:
            self._buffer = None
        return request

    def has_partial(self):
        """True while bytes of an unfinished request are buffered or still expected."""
        return bool(self._buffer) or self._state not in (_HEAD, _FAILED)

    def take_unparsed(self):
        """Bytes after the last returned request (a websocket's first frames, after an upgrade)."""
        data = bytes(self._buffer) if self._buffer else b""
        self._buffer = None
        return data

    def _fail(self, error):
        self._state, self._head, self._buffer, self._body = _FAILED, error, None, None
        raise error

    def _advance(self):
        if self._state == _HEAD and not self._read_head():
            return None
        buffer = self._buffer
        if self._state == _LENGTH:
            size = self._remaining
            if len(buffer) < size:
                return None
            body = bytes(buffer[:size])
            del buffer[:size]
            return self._finish(body)
        while True:
            state = self._state
            if state == _CHUNK_SIZE:
                end = buffer.find(b"\n", 0, MAX_CHUNK_LINE_BYTES + 1)
                if end < 0:
                    if len(buffer) > MAX_CHUNK_LINE_BYTES:
                        raise HttpError(400, "Chunk size line too long.")
                    return None
                size = self._chunk_size(bytes(buffer[:end]).decode("latin-1"))
                del buffer[:end + 1]
                if size:
                    self._state, self._remaining = _CHUNK_DATA, size
                else:
                    self._state, self._scanned = _TRAILER, 0
            elif state == _CHUNK_DATA:
                take = min(self._remaining, len(buffer))
                if not take:
                    return None
                self._body += buffer[:take]
                del buffer[:take]
                self._remaining -= take
                if self._remaining:
                    return None
                self._state = _CHUNK_END
            elif state == _CHUNK_END:
                if buffer[:2] == b"\r\n":
                    del buffer[:2]
                elif buffer[:1] == b"\n":
                    del buffer[:1]
                elif buffer == b"\r" or not buffer:
                    return None
                else:
                    raise HttpError(400, "Chunk data not followed by CRLF.")
                self._state = _CHUNK_SIZE
            else:
                return self._read_trailer()

    # -- head -------------------------------------------------------------------------------------
    def _read_head(self):
        """Parse a complete head and choose how to read the body; False while it is incomplete."""
        buffer = self._buffer
        skip = _leading_empty_lines(buffer)
        if skip:
            del buffer[:skip]
            self._scanned = 0
        end, terminator = _blank_line(buffer, self._scanned)
        if end < 0:
            self._scanned = max(0, len(buffer) - 2)
            if len(buffer) > self.max_header_bytes + 1:
                raise HttpError(431, "Request header fields too large.")
            return False
        if end > self.max_header_bytes:
            raise HttpError(431, "Request header fields too large.")
        request_line, _, fields = _head_text(bytes(buffer[:end])).partition("\n")
        del buffer[:end + terminator]
        self._scanned = 0
        method, target, version = _request_line(request_line)
        request = Request(method, target, version, _fields(fields))
        self._head = request
        self._limit = self.max_body_bytes if self.body_limit_for is None else self.body_limit_for(request)
        self._choose_body(version, request.headers)
        return True

    def _choose_body(self, version, headers):
        """RFC 9112 §6.3: how the body is delimited. Sets the state that reads it."""
        encodings = [v for k, v in headers if k == "transfer-encoding"]
        codings = [c.strip().lower() for v in encodings for c in v.split(",") if c.strip()]
        lengths = [n.strip() for k, v in headers if k == "content-length" for n in v.split(",")]
        if encodings:
            if not codings:
                raise HttpError(400, "Empty Transfer-Encoding.")
            if lengths:
                raise HttpError(400, "Both Transfer-Encoding and Content-Length.")
            if version == "HTTP/1.0":
                raise HttpError(400, "Transfer-Encoding in an HTTP/1.0 request.")
            if codings[-1] != "chunked" or codings.count("chunked") > 1:
                # §6.3: without chunked last, nobody can tell where the body ends.
                raise HttpError(400, "Transfer-Encoding must end with chunked, once.")
            if len(codings) > 1:
                raise HttpError(501, "Only the chunked transfer coding is supported.")
            self._state, self._body = _CHUNK_SIZE, bytearray()
            return
        if not lengths:
            self._state, self._remaining = _LENGTH, 0
            return
        if len(set(lengths)) > 1:
            raise HttpError(400, "Conflicting Content-Length headers.")
        text = lengths[0]
        if not text.isascii() or not text.isdigit():
            raise HttpError(400, "Invalid Content-Length.")
        if len(text.lstrip("0")) > _MAX_LENGTH_DIGITS or int(text) > self._limit:
            raise HttpError(413, "Request body too large.")
        self._state, self._remaining = _LENGTH, int(text)

    # -- chunked body -----------------------------------------------------------------------------
    def _chunk_size(self, line):
        if line.endswith("\r"):
            line = line[:-1]
        match = _CHUNK_LINE.fullmatch(line)
        if match is None or _FORBIDDEN_IN_HEAD.search(line):
            raise HttpError(400, "Invalid chunk size.")
        digits = match.group(1).lstrip("0") or "0"
        if len(digits) > _MAX_LENGTH_DIGITS or len(self._body) + int(digits, 16) > self._limit:
            raise HttpError(413, "Request body too large.")
        return int(digits, 16)

    def _read_trailer(self):
        """After the last chunk: an empty line, or trailer fields (checked, then dropped) and one."""
        buffer = self._buffer
        if buffer[:2] == b"\r\n" or buffer[:1] == b"\n":
            del buffer[:1 if buffer[:1] == b"\n" else 2]
        elif not buffer:
            return None
        else:
            end, terminator = _blank_line(buffer, self._scanned)
            if end < 0:
                self._scanned = max(0, len(buffer) - 2)
                if len(buffer) > self.max_header_bytes + 1:
                    raise HttpError(431, "Trailer fields too large.")
                return None
            if end > self.max_header_bytes:
                raise HttpError(431, "Trailer fields too large.")
            _fields(_head_text(bytes(buffer[:end])))
            del buffer[:end + terminator]
        body = bytes(self._body)
        self._body = None
        return self._finish(body)

    def _finish(self, body):
        request = self._head
        request.body = body
        self._state, self._head, self._scanned = _HEAD, None, 0
        return request


def _leading_empty_lines(buffer):
    """How many bytes of empty lines start the buffer (RFC 9112 §2.2: ignore them)."""
    at = 0
    while True:
        if buffer[at:at + 1] == b"\n":
            at += 1
        elif buffer[at:at + 2] == b"\r\n":
            at += 2
        else:
            return at


def _blank_line(data, start):
    """(length of the head, including its last line's LF; length of the empty line that ends it),
    or (-1, 0). The empty line is CRLF or a bare LF."""
    crlf = data.find(b"\n\r\n", start)
    lf = data.find(b"\n\n", start, crlf + 2 if crlf >= 0 else len(data))
    if lf >= 0:
        return lf + 1, 1
    if crlf >= 0:
        return crlf + 1, 2
    return -1, 0


def _head_text(head):
    """The head as text, every line ending in LF; 400 for control characters or a bare CR."""
    text = head.decode("latin-1")
    if _FORBIDDEN_IN_HEAD.search(text):
        raise HttpError(400, "Control character in the request head.")
    return text.replace("\r\n", "\n")


def _request_line(line):
    parts = line.split(" ")
    if len(parts) != 3:
        raise HttpError(400, "Malformed request line.")
    method, target, version = parts
    if _METHOD.fullmatch(method) is None:
        raise HttpError(400, "Malformed method.")
    if version != "HTTP/1.1" and version != "HTTP/1.0":
        if _VERSION.fullmatch(version):
            raise HttpError(505, "HTTP version not supported.")
        raise HttpError(400, "Malformed request line.")
    if not (target.isascii() and target.isprintable()) and _FORBIDDEN_IN_TARGET.search(target) or \
            not target:
        raise HttpError(400, "Malformed request target.")
    if target[0] != "/" and not (target == "*" and method == "OPTIONS") and \
            not target.lower().startswith(("http://", "https://")):
        raise HttpError(400, "Malformed request target.")
    return method, target, version


def _split_target(target):
    """(raw path, raw query) of an origin-form, absolute-form or asterisk-form target."""
    if target[:1] != "/" and target != "*":
        rest = target.split("://", 1)[1]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        target = rest[cut:]
        if not target.startswith("/"):
            target = "/" + target
    path, _, query = target.partition("?")
    return path, query


def _fields(text):
    """[(lower-case name, value)] of header lines, each ending in LF; one regex pass for all."""
    fields = _FIELD.findall(text)
    if len(fields) != text.count("\n"):
        if text.startswith((" ", "\t")) or "\n " in text or "\n\t" in text:
            raise HttpError(400, "Obsolete header line folding is not accepted.")
        raise HttpError(400, "Malformed header line.")
    return [(name.lower(), value) for name, value in fields]


# -- writing ---------------------------------------------------------------------------------------
def _head(status, fields, count, extra):
    """Status line, the `count` header lines already in `fields`, the `extra` (name, value) pairs
    and the empty line, as bytes. A line break inside a header is our bug, never the peer's."""
    if extra:
        fields += "".join(f"{name}: {value}\r\n" for name, value in extra)
        count += len(extra)
    text = f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n{fields}\r\n"
    if text.count("\n") != count + 2 or text.count("\r") != count + 2:
        raise ValueError("line break inside a response header")
    return text.encode("latin-1")


def response(status, body=b"", content_type=None, headers=(), keep_alive=True, head=False):
    """A whole response: status line, Content-Type when given, Content-Length (always, except for
    1xx and 204, where RFC 9110 §8.6 forbids it), Connection, then `headers` in order. `head=True`
    (an answer to HEAD) leaves the body out but keeps its length."""
    fields = "Connection: keep-alive\r\n" if keep_alive else "Connection: close\r\n"
    count = 1
    if status >= 200 and status != 204:
        fields = f"Content-Length: {len(body)}\r\n{fields}"
        count += 1
    elif len(body):
        raise ValueError(f"a {status} response has no body")
    if content_type:
        fields = f"Content-Type: {content_type}\r\n{fields}"
        count += 1
    head_bytes = _head(status, fields, count, headers)
    return head_bytes if head or not len(body) else head_bytes + body


def chunked_response_head(status, content_type=None, headers=(), keep_alive=True):
    """The head of a streamed response; follow it with chunk() calls and last_chunk()."""
    fields = "Transfer-Encoding: chunked\r\n"
    if content_type:
        fields += f"Content-Type: {content_type}\r\n"
    fields += "Connection: keep-alive\r\n" if keep_alive else "Connection: close\r\n"
    return _head(status, fields, 3 if content_type else 2, headers)


def chunk(data):
    """One chunk; empty data gives no bytes (an empty chunk would end the body)."""
    return b"%x\r\n" % len(data) + data + b"\r\n" if len(data) else b""


def last_chunk():
    return b"0\r\n\r\n"
