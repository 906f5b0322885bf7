"""HTTP/1.1, server side: requests in, response bytes out (RFC 9112), for the REST API and admin.

Owns: parsing request lines, headers and bodies (Content-Length or chunked) from any chunking of
the stream, keep-alive rules, size limits, and writing responses. Never touches sockets, clocks or
logs.

Theory of operation. `feed(data)` appends to one per-connection buffer; `next_request()` parses
the head once it is complete, then waits for the body, and returns a Request or None. Pipelined
requests stay in the buffer until asked for, so the caller answers them one at a time, in order.
Limits are checked as bytes arrive: a head that outgrows `max_header_bytes` without ending is
refused at once (431), a body announced or growing over `max_body_bytes` too (413).

Invariant: after an HttpError the parser is finished; the caller answers and closes.
"""
import http
import urllib.parse

# Upstream aggregates at most `web.request.max.size` (512 KiB) per request; the head limit is
# Netty's default maximum header size.
DEFAULT_MAX_HEADER_BYTES = 8192
DEFAULT_MAX_BODY_BYTES = 524288
_METHOD_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CRLF = b"\r\n"


class HttpError(Exception):
    """The peer sent something we must refuse: answer `status` with `message`, then close."""

    def __init__(self, status, message):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


class Request:
    __slots__ = ("method", "target", "raw_path", "path", "query", "version", "headers", "body",
                 "keep_alive")

    def __init__(self, method, target, version, headers, body=b""):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.raw_path, _, query = target.partition("?")
        self.path = urllib.parse.unquote(self.raw_path)
        self.query = urllib.parse.parse_qs(query, keep_blank_values=True)
        connection = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if version == "HTTP/1.0":
            self.keep_alive = "keep-alive" in connection
        else:
            self.keep_alive = "close" not in connection

    def header(self, name, default=None):
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def is_websocket_upgrade(self):
        upgrade = (self.header("upgrade") or "").lower()
        connection = (self.header("connection") or "").lower()
        return upgrade == "websocket" and "upgrade" in (t.strip() for t in connection.split(","))

    def __repr__(self):
        return f"<Request {self.method} {self.raw_path}>"


class RequestParser:
    __slots__ = ("max_header_bytes", "max_body_bytes", "_buffer", "_head", "_scanned")

    def __init__(self, max_header_bytes=DEFAULT_MAX_HEADER_BYTES, max_body_bytes=DEFAULT_MAX_BODY_BYTES):
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self._buffer = bytearray()
        self._head = None          # (method, target, version, headers) of the request being read
        self._scanned = 0          # how far the search for the end of the head has looked

    def feed(self, data):
        self._buffer += data
        if self._head is None and len(self._buffer) > self.max_header_bytes + 4:
            if self._buffer.find(b"\r\n\r\n", 0, self.max_header_bytes + 4) < 0 and \
                    self._buffer.find(b"\n\n", 0, self.max_header_bytes + 2) < 0:
                raise HttpError(431, "Request header fields too large.")

    def take_unparsed(self):
        """Bytes after the last returned request (a websocket's first frames, after an upgrade)."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def next_request(self):
        if self._head is None:
            self._head = self._read_head()
            if self._head is None:
                return None
        method, target, version, headers = self._head
        body = self._read_body(headers)
        if body is None:
            return None
        self._head = None
        return Request(method, target, version, headers, body)

    # -- head -------------------------------------------------------------------------------------
    def _read_head(self):
        buffer = self._buffer
        while buffer[:2] == _CRLF:           # RFC 9112 §2.2: ignore empty lines before a request
            del buffer[:2]
        end, skip = _head_end(buffer, max(0, self._scanned - 3))
        if end < 0:
            self._scanned = len(buffer)
            if len(buffer) > self.max_header_bytes:
                raise HttpError(431, "Request header fields too large.")
            return None
        if end > self.max_header_bytes:
            raise HttpError(431, "Request header fields too large.")
        head = bytes(buffer[:end]).decode("latin-1")
        del buffer[:end + skip]
        self._scanned = 0
        lines = head.replace("\r\n", "\n").split("\n")
        method, target, version = _request_line(lines[0])
        return method, target, version, _headers(lines[1:])

    # -- body -------------------------------------------------------------------------------------
    def _read_body(self, headers):
        encodings = [v.strip().lower() for k, v in headers if k == "transfer-encoding"]
        lengths = {v.strip() for k, v in headers if k == "content-length"}
        if encodings:
            if lengths:
                raise HttpError(400, "Both Transfer-Encoding and Content-Length.")
            if ",".join(encodings).replace(" ", "") != "chunked":
                raise HttpError(501, "Only the chunked transfer coding is supported.")
            return self._read_chunked()
        if not lengths:
            return b""
        if len(lengths) > 1:
            raise HttpError(400, "Conflicting Content-Length headers.")
        text = lengths.pop()
        if not text.isdigit() or len(text) > 18:
            raise HttpError(400, "Invalid Content-Length.")
        length = int(text)
        if length > self.max_body_bytes:
            raise HttpError(413, "Request body too large.")
        if len(self._buffer) < length:
            return None
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    def _read_chunked(self):
        """The whole chunked body once every chunk and the trailer arrived; None until then."""
        buffer = self._buffer
        body = bytearray()
        at = 0
        while True:
            line_end = buffer.find(b"\n", at)
            if line_end < 0:
                self._check_chunked_size(len(buffer))
                return None
            size_text = bytes(buffer[at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError(400, "Invalid chunk size.") from None
            if size_text.startswith((b"-", b"+", b"0x", b"0X")) or len(size_text) > 15:
                raise HttpError(400, "Invalid chunk size.")
            at = line_end + 1
            if len(body) + size > self.max_body_bytes:
                raise HttpError(413, "Request body too large.")
            if size == 0:
                end, skip = _trailer_end(buffer, at)
                if end < 0:
                    self._check_chunked_size(len(buffer) - at)
                    return None
                del buffer[:end + skip]
                return bytes(body)
            if len(buffer) < at + size + 2:
                return None
            body += buffer[at:at + size]
            at += size
            if buffer[at:at + 2] == _CRLF:
                at += 2
            elif buffer[at:at + 1] == b"\n":
                at += 1
            else:
                raise HttpError(400, "Chunk data not followed by CRLF.")

    def _check_chunked_size(self, pending):
        if pending > self.max_body_bytes + self.max_header_bytes:
            raise HttpError(413, "Request body too large.")


def _head_end(buffer, start):
    """(index where the head ends, length of the blank-line terminator) or (-1, 0)."""
    crlf = buffer.find(b"\r\n\r\n", start)
    lf = buffer.find(b"\n\n", start)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, 2                     # bare LF line endings, tolerated as RFC 9112 §2.2 allows
    return (crlf, 4) if crlf >= 0 else (-1, 0)


def _trailer_end(buffer, at):
    """After the last chunk: an empty line, or trailer fields then an empty line."""
    if buffer[at:at + 2] == _CRLF:
        return at, 2
    if buffer[at:at + 1] == b"\n":
        return at, 1
    end, skip = _head_end(buffer, at)
    return end, skip


def _request_line(line):
    parts = line.split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HttpError(400, "Malformed request line.")
    method, target, version = parts
    if not set(method.encode("latin-1")) <= _METHOD_CHARS:
        raise HttpError(400, "Malformed method.")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        if version.startswith("HTTP/"):
            raise HttpError(505, "HTTP version not supported.")
        raise HttpError(400, "Malformed request line.")
    if not target.startswith("/") and target != "*" and "://" not in target:
        raise HttpError(400, "Malformed request target.")
    if not target.isprintable():
        raise HttpError(400, "Malformed request target.")
    return method, target, version


def _headers(lines):
    headers = []
    for line in lines:
        if not line:
            continue
        if line[0] in " \t":
            raise HttpError(400, "Obsolete header line folding is not accepted.")
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or any(c in name for c in " \t\"(),/;<=>?@[\\]{}"):
            raise HttpError(400, "Malformed header line.")
        headers.append((name.lower(), value.strip(" \t")))
    return headers


# -- writing ---------------------------------------------------------------------------------------
def _reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def response(status, body=b"", content_type=None, headers=(), keep_alive=True, head=False):
    """A whole response: status line, Content-Length always, Content-Type when given."""
    lines = [f"HTTP/1.1 {status} {_reason(status)}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    lines += [f"{name}: {value}" for name, value in headers]
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head_bytes if head else head_bytes + body


def chunked_response_head(status, content_type=None, headers=(), keep_alive=True):
    lines = [f"HTTP/1.1 {status} {_reason(status)}", "Transfer-Encoding: chunked",
             "Connection: keep-alive" if keep_alive else "Connection: close"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data):
    return b"%x\r\n" % len(data) + bytes(data) + b"\r\n" if data else b""


def last_chunk():
    return b"0\r\n\r\n"
