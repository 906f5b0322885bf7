"""HTTP/1.1 request parser and response writer (RFC 9112): table-driven cases named after what they
pin down, the limits as bytes arrive, and the properties that any chunking of pipelined requests
parses the same and that garbage raises HttpError and nothing else."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blynklite.codec.http import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
    MAX_CHUNK_LINE_BYTES,
    HttpError,
    Request,
    RequestParser,
    chunk,
    chunked_response_head,
    last_chunk,
    response,
)

from .streams import cut, never_hangs

PROPERTY = settings(max_examples=80, deadline=None)


# --- helpers ---------------------------------------------------------------------------------------

def parse_all(data, pieces=None, **limits):
    """Feed `data` (or `pieces`), asking for requests after every feed as the HTTP session does."""
    parser = RequestParser(**limits)
    requests = []
    for piece in [data] if pieces is None else pieces:
        parser.feed(piece)
        while (request := parser.next_request()) is not None:
            requests.append(request)
            assert len(requests) <= len(data) + sum(map(len, pieces or ())), "parser made bytes up"
    return requests


def one(data, **limits):
    [request] = parse_all(data, **limits)
    return request


def status_of(data, pieces=None, **limits):
    with pytest.raises(HttpError) as error:
        parse_all(data, pieces, **limits)
    return error.value.status


def summary(request):
    return (request.method, request.target, request.raw_path, request.path, request.query,
            request.version, request.headers, request.body, request.keep_alive)


# --- what a request looks like once parsed -----------------------------------------------------------

def test_get_with_query_and_percent_encoded_path():
    r = one(b"GET /tok%20en/update/V1?value=1&value=2&x=&flag HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (r.method, r.version, r.body) == ("GET", "HTTP/1.1", b"")
    assert (r.target, r.raw_path, r.path) == (
        "/tok%20en/update/V1?value=1&value=2&x=&flag", "/tok%20en/update/V1", "/tok en/update/V1")
    assert r.query == {"value": ["1", "2"], "x": [""], "flag": [""]}


def test_headers_keep_their_order_with_lower_case_names_and_trimmed_values():
    r = one(b"GET / HTTP/1.1\r\nHost: a\r\nX-Twice: 1\r\nx-twice:\t 2 \t\r\nEmpty:\r\n\r\n")
    assert r.headers == [("host", "a"), ("x-twice", "1"), ("x-twice", "2"), ("empty", "")]
    assert r.header("X-TWICE") == "1"                   # first match, any case
    assert r.header("missing") is None and r.header("missing", "d") == "d"


def test_header_values_are_latin_1_and_keep_inner_spaces():
    r = one(b"GET / HTTP/1.1\r\nX-Name: caf\xe9 au lait\r\n\r\n")
    assert r.header("x-name") == "caf\xe9 au lait"


def test_raw_utf8_in_the_target_is_decoded_like_percent_escapes():
    # curl sends what the user typed; Netty's decoder reads such bytes as UTF-8 too.
    r = one("GET /päth?value=hé%C3%A9 HTTP/1.1\r\n\r\n".encode("utf-8"))
    assert r.path == "/päth" and r.query == {"value": ["héé"]}
    assert r.raw_path == "/päth".encode("utf-8").decode("latin-1")


def test_plus_in_the_query_is_a_space_and_in_the_path_is_not():
    r = one(b"GET /a+b?v=a+b%2B HTTP/1.1\r\n\r\n")
    assert r.path == "/a+b" and r.query == {"v": ["a b+"]}


@pytest.mark.parametrize("target, raw_path, query", [
    ("http://host:8080/tok/update/V1?value=3", "/tok/update/V1", {"value": ["3"]}),
    ("https://host/", "/", {}),
    ("http://host?x=1", "/", {"x": ["1"]}),
    ("http://host", "/", {}),
], ids=["with path and query", "https root", "query without path", "authority only"])
def test_absolute_form_targets_yield_their_path(target, raw_path, query):
    r = one(f"GET {target} HTTP/1.1\r\n\r\n".encode())
    assert (r.target, r.raw_path, r.path, r.query) == (target, raw_path, raw_path, query)


def test_options_asterisk_form():
    assert one(b"OPTIONS * HTTP/1.1\r\n\r\n").path == "*"


@pytest.mark.parametrize("version, connection, keep_alive", [
    ("HTTP/1.1", None, True),
    ("HTTP/1.1", "close", False),
    ("HTTP/1.1", "Upgrade, Close", False),
    ("HTTP/1.1", "keep-alive", True),
    ("HTTP/1.0", None, False),
    ("HTTP/1.0", "keep-alive", True),
    ("HTTP/1.0", "Keep-Alive", True),
    ("HTTP/1.0", "keep-alive, close", False),
], ids=["1.1 default", "1.1 close", "1.1 close among tokens", "1.1 keep-alive", "1.0 default",
        "1.0 keep-alive", "1.0 keep-alive any case", "1.0 close wins"])
def test_keep_alive_rules(version, connection, keep_alive):
    head = f"GET / {version}\r\n" + (f"Connection: {connection}\r\n" if connection else "") + "\r\n"
    assert one(head.encode()).keep_alive is keep_alive


def test_close_in_a_second_connection_header_counts():
    assert one(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n").keep_alive is False


@pytest.mark.parametrize("headers, upgrade", [
    ("Upgrade: websocket\r\nConnection: Upgrade\r\n", True),
    ("Upgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\n", True),
    ("Upgrade: websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n", True),
    ("Upgrade: h2c\r\nConnection: Upgrade\r\n", False),
    ("Upgrade: websocket\r\n", False),
    ("Connection: Upgrade\r\n", False),
    ("Upgrade: websocketx\r\nConnection: Upgrade\r\n", False),
], ids=["plain", "any case, token list", "second connection header", "other protocol",
        "no connection token", "no upgrade header", "not the websocket token"])
def test_is_websocket_upgrade(headers, upgrade):
    assert one(f"GET /websockets HTTP/1.1\r\n{headers}\r\n".encode()).is_websocket_upgrade() is upgrade


def test_request_can_be_built_directly():
    r = Request("GET", "/a%2Fb?x=1", "HTTP/1.1", [("host", "h")])
    assert (r.raw_path, r.path, r.query, r.body, r.keep_alive) == ("/a%2Fb", "/a/b", {"x": ["1"]}, b"", True)


# --- bodies and pipelining ---------------------------------------------------------------------------

def test_content_length_body_and_pipelining():
    data = (b"PUT /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /b HTTP/1.1\r\n\r\n"
            b"POST /c HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert [(r.method, r.path, r.body) for r in parse_all(data)] == [
        ("PUT", "/a", b"hello"), ("GET", "/b", b""), ("POST", "/c", b"")]


def test_pipelined_requests_wait_in_the_buffer_until_asked_for():
    parser = RequestParser()
    parser.feed(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HT")
    assert parser.next_request().path == "/1"
    assert parser.next_request().path == "/2"
    assert parser.next_request() is None
    parser.feed(b"TP/1.1\r\n\r\n")
    assert parser.next_request().path == "/3"
    assert parser.next_request() is None


def test_identical_repeated_content_lengths_are_one_length():
    assert one(b"PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc").body == b"abc"


def test_chunked_body_with_extensions_and_trailers():
    data = (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6 ; a=\"b\";c\r\n world\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n"
            b"GET /next HTTP/1.1\r\n\r\n")
    first, second = parse_all(data)
    assert first.body == b"hello world" and second.path == "/next"
    assert first.header("x-trailer") is None        # trailers are checked and dropped


def test_chunk_sizes_are_hex_any_case_with_leading_zeros():
    data = b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n0A\r\n0123456789\r\n000\r\n\r\n"
    assert one(data).body == b"0123456789"


def test_written_chunks_parse_back():
    data = (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunk(b"ab") + chunk(b"") + chunk(memoryview(b"c" * 300)) + last_chunk())
    assert one(data).body == b"ab" + b"c" * 300


def test_bare_lf_line_endings_are_tolerated_everywhere():
    data = (b"POST /x HTTP/1.1\nHost: a\r\nTransfer-Encoding: chunked\n\n"
            b"3\nabc\n0\nT: 1\n\nGET /y HTTP/1.1\n\n")
    first, second = parse_all(data)
    assert (first.header("host"), first.body, second.path) == ("a", b"abc", "/y")


def test_empty_lines_before_a_request_line_are_skipped():
    data = b"PUT / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n\r\n\nGET /after HTTP/1.1\r\n\r\n"
    assert [r.path for r in parse_all(data)] == ["/", "/after"]


def test_bytes_after_an_upgrade_request_are_handed_over_unparsed():
    parser = RequestParser()
    parser.feed(b"GET /websockets HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x82\x85frame")
    assert parser.next_request().path == "/websockets"
    assert parser.take_unparsed() == b"\x82\x85frame"
    assert parser.take_unparsed() == b""


def test_a_memoryview_of_a_reused_read_buffer_is_copied():
    read_buffer = bytearray(b"PUT / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab")
    parser = RequestParser()
    parser.feed(memoryview(read_buffer))
    read_buffer[:] = b"\xee" * len(read_buffer)
    read_buffer.append(0)                  # BufferError if the parser kept a view
    parser.feed(memoryview(b"cd"))
    assert parser.next_request().body == b"abcd"


# --- refusals ----------------------------------------------------------------------------------------

REFUSALS = [
    ("unknown coding before chunked", b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ("coding without chunked", b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("chunked not last", b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("chunked twice", b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("empty transfer-encoding", b"PUT /x HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n", 400),
    ("chunked in http/1.0", b"PUT /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("length and chunked", b"PUT /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("two different lengths", b"PUT /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    ("length list that differs", b"PUT /x HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", 400),
    ("negative length", b"PUT /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    ("hex length", b"PUT /x HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400),
    ("empty length", b"PUT /x HTTP/1.1\r\nContent-Length:\r\n\r\n", 400),
    ("non-ascii digits in length", "PUT /x HTTP/1.1\r\nContent-Length: ٣\r\n\r\n".encode(), 400),
    ("http/2 version", b"GET /x HTTP/2.0\r\n\r\n", 505),
    ("http/0.9 request line", b"GET /x\r\n\r\n", 400),
    ("garbled version", b"GET /x HTTP/1.1x\r\n\r\n", 400),
    ("two spaces in request line", b"GET  /x HTTP/1.1\r\n\r\n", 400),
    ("method is not a token", b"G(T /x HTTP/1.1\r\n\r\n", 400),
    ("relative target", b"GET x HTTP/1.1\r\n\r\n", 400),
    ("asterisk outside options", b"GET * HTTP/1.1\r\n\r\n", 400),
    ("control character in target", b"GET /a\x01b HTTP/1.1\r\n\r\n", 400),
    ("tab in target", b"GET /a\tb HTTP/1.1\r\n\r\n", 400),
    ("space in header name", b"GET /x HTTP/1.1\r\nBad Header: 1\r\n\r\n", 400),
    ("space before colon", b"GET /x HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("no colon", b"GET /x HTTP/1.1\r\nHost\r\n\r\n", 400),
    ("empty header name", b"GET /x HTTP/1.1\r\n: a\r\n\r\n", 400),
    ("obs-fold", b"GET /x HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400),
    ("obs-fold with tab", b"GET /x HTTP/1.1\r\nA: 1\r\n\tfolded\r\n\r\n", 400),
    ("first header line folded", b"GET /x HTTP/1.1\r\n folded: 1\r\n\r\n", 400),
    ("bare CR in a header", b"GET /x HTTP/1.1\r\nA: 1\rB: 2\r\n\r\n", 400),
    ("NUL in a header value", b"GET /x HTTP/1.1\r\nA: 1\x002\r\n\r\n", 400),
    ("bad chunk size", b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("signed chunk size", b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n", 400),
    ("empty chunk size", b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
    ("chunk data too long", b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", 400),
    ("malformed trailer", b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n", 400),
]


@pytest.mark.parametrize("data, status", [(d, s) for _, d, s in REFUSALS], ids=[n for n, _, _ in REFUSALS])
def test_refusals(data, status):
    assert status_of(data) == status


@pytest.mark.parametrize("data, status", [(d, s) for _, d, s in REFUSALS], ids=[n for n, _, _ in REFUSALS])
def test_refusals_do_not_depend_on_chunking(data, status):
    assert status_of(data, [data[i:i + 1] for i in range(len(data))]) == status


def test_lower_case_methods_are_tokens_and_pass_to_the_router():
    assert one(b"get /x HTTP/1.1\r\n\r\n").method == "get"


def test_after_an_error_the_parser_stays_failed():
    parser = RequestParser()
    parser.feed(b"GET /x HTTP/9.9\r\n\r\n")
    with pytest.raises(HttpError) as first:
        parser.next_request()
    for call in (lambda: parser.next_request(), lambda: parser.feed(b"GET / HTTP/1.1\r\n\r\n")):
        with pytest.raises(HttpError) as again:
            call()
        assert again.value is first.value


def test_error_carries_status_and_message():
    error = HttpError(413, "Request body too large.")
    assert (error.status, error.message, str(error)) == (413, "Request body too large.",
                                                        "413 Request body too large.")


# --- limits, checked as the bytes arrive -------------------------------------------------------------

def head_of(size, eol=b"\r\n"):
    """A head of exactly `size` bytes (request line and header lines with their line ends), then
    the empty line that ends it."""
    start = b"GET / HTTP/1.1" + eol + b"X: "
    return start + b"a" * (size - len(start) - len(eol)) + eol + eol


@pytest.mark.parametrize("limit", [64, 1000])
@pytest.mark.parametrize("eol", [b"\r\n", b"\n"], ids=["crlf", "lf"])
@pytest.mark.parametrize("bytewise", [False, True], ids=["one feed", "byte by byte"])
def test_a_head_of_exactly_the_limit_is_accepted_and_one_more_byte_is_not(limit, eol, bytewise):
    fits, over = head_of(limit, eol), head_of(limit + 1, eol)
    split = (lambda d: [d[i:i + 1] for i in range(len(d))]) if bytewise else (lambda d: None)
    assert len(parse_all(fits, split(fits), max_header_bytes=limit)) == 1
    assert status_of(over, split(over), max_header_bytes=limit) == 431


def test_a_head_is_refused_as_soon_as_its_bytes_prove_it_too_long():
    # 66 bytes without an end: the head is at least 65 bytes long even if the next byte ends it.
    parser = RequestParser(max_header_bytes=64)
    parser.feed(head_of(65)[:66])
    with pytest.raises(HttpError) as error:
        parser.next_request()
    assert error.value.status == 431


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_a_head_of_exactly_the_limit_followed_by_more_bytes_in_the_same_feed_is_accepted(eol):
    data = head_of(64, eol) + b"GET /next HTTP/1.1\r\n\r\n" * 3
    assert [r.path for r in parse_all(data, max_header_bytes=64)] == ["/", "/next", "/next", "/next"]


def test_the_default_head_limit_is_8_kib():
    assert DEFAULT_MAX_HEADER_BYTES == 8192
    assert len(parse_all(head_of(8192))) == 1
    assert status_of(head_of(8193)) == 431


def test_a_10_mb_head_in_one_feed_is_refused_by_feed_itself():
    parser = RequestParser()
    with pytest.raises(HttpError) as error:
        parser.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 10_000_000)
    assert error.value.status == 431


def test_a_big_head_arriving_slowly_is_refused_as_soon_as_it_passes_the_limit():
    parser = RequestParser(max_header_bytes=8192)
    parser.feed(b"GET / HTTP/1.1\r\n")
    fed = 16
    with pytest.raises(HttpError) as error:
        for _ in range(10_000):                # 10 MB, if it were all accepted
            parser.feed(b"X: " + b"a" * 995 + b"\r\n")
            fed += 1000
            assert parser.next_request() is None
    assert error.value.status == 431 and fed <= 8192 + 1000


def test_a_big_trailer_is_refused():
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    assert status_of(head + b"T: " + b"a" * 200 + b"\r\n\r\n", max_header_bytes=100) == 431
    assert status_of(head + b"T: " + b"a" * 200, max_header_bytes=100) == 431


def test_a_content_length_over_the_limit_is_refused_before_the_body_arrives():
    parser = RequestParser(max_body_bytes=100)
    parser.feed(b"PUT / HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
    with pytest.raises(HttpError) as error:
        parser.next_request()
    assert error.value.status == 413


def test_a_body_of_exactly_the_limit_is_accepted():
    body = b"b" * DEFAULT_MAX_BODY_BYTES
    assert one(b"PUT / HTTP/1.1\r\nContent-Length: 524288\r\n\r\n" + body).body == body


@pytest.mark.parametrize("digits", [16, 5000], ids=["16 digits", "5000 digits"])
def test_an_absurd_content_length_is_413_not_a_crash(digits):
    assert status_of(b"PUT / HTTP/1.1\r\nContent-Length: " + b"9" * digits + b"\r\n\r\n") == 413


def test_chunks_adding_up_over_the_limit_are_refused_at_the_chunk_size_line():
    parser = RequestParser(max_body_bytes=100)
    parser.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n" + b"a" * 50 + b"\r\n")
    assert parser.next_request() is None
    parser.feed(b"32\r\n")
    assert parser.next_request() is None          # 100 bytes: still allowed
    parser.feed(b"a" * 50 + b"\r\n1\r\n")
    with pytest.raises(HttpError) as error:
        parser.next_request()
    assert error.value.status == 413


def test_an_absurd_chunk_size_is_413_not_a_crash():
    data = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1" + b"0" * 20 + b"\r\n"
    assert status_of(data) == 413


def test_a_chunk_size_line_is_limited():
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;"
    assert status_of(head + b"x" * MAX_CHUNK_LINE_BYTES) == 400
    assert one(head + b"x" * (MAX_CHUNK_LINE_BYTES - 3) + b"\r\nhello\r\n0\r\n\r\n").body == b"hello"


# --- writing responses ----------------------------------------------------------------------------

RESPONSES = [
    ("empty ok keeps alive and says length 0", response(200),
     b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"),
    ("error with type, extra header, close", response(
        400, b"Invalid token.", "text/plain;charset=utf-8", [("A", "b"), ("C", "d")], keep_alive=False),
     b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain;charset=utf-8\r\nContent-Length: 14\r\n"
     b"Connection: close\r\nA: b\r\nC: d\r\n\r\nInvalid token."),
    ("head keeps the length and drops the body", response(200, b"abc", "text/plain", head=True),
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n"),
    ("reason phrase from the standard table", response(431),
     b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"),
    ("unknown status", response(599),
     b"HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"),
    ("no content has no length", response(204),
     b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"),
    ("memoryview body", response(200, memoryview(b"xy")),
     b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nxy"),
    ("streamed head", chunked_response_head(200, "text/csv", [("X", "1")]),
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/csv\r\n"
     b"Connection: keep-alive\r\nX: 1\r\n\r\n"),
    ("chunks", chunk(b"hello") + chunk(b"") + chunk(b"x" * 26) + last_chunk(),
     b"5\r\nhello\r\n1a\r\n" + b"x" * 26 + b"\r\n0\r\n\r\n"),
]


@pytest.mark.parametrize("written, wire", [(w, b) for _, w, b in RESPONSES], ids=[n for n, _, _ in RESPONSES])
def test_response_bytes(written, wire):
    assert written == wire


@pytest.mark.parametrize("call", [
    lambda: response(200, headers=[("X", "a\r\nSet-Cookie: evil=1")]),
    lambda: response(200, content_type="text/plain\nX: 1"),
    lambda: response(200, headers=[("X\r\nY", "1")]),
    lambda: chunked_response_head(200, headers=[("X", "\n")]),
    lambda: response(204, b"body"),
], ids=["CRLF in a value", "LF in the content type", "CRLF in a name", "LF in a streamed head", "204 with a body"])
def test_writing_a_broken_response_is_a_local_value_error(call):
    with pytest.raises(ValueError):
        call()


# --- properties --------------------------------------------------------------------------------------

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
names = st.text(TOKEN_CHARS, min_size=1, max_size=12).filter(
    lambda n: n.lower() not in ("content-length", "transfer-encoding", "connection"))
values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                 max_size=20).map(lambda v: v.strip(" "))
path_chars = st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="?#%")


@st.composite
def requests(draw):
    """(wire bytes, expected summary) of one request with a random body framing and line endings."""
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"]))
    path = "/" + draw(st.text(path_chars, max_size=20))
    query = draw(st.sampled_from(["", "?value=1", "?a=&b=2&a=3"]))
    headers = draw(st.lists(st.tuples(names, values), max_size=4))
    close = draw(st.booleans())
    framing = draw(st.sampled_from(["none", "length", "chunked"]))
    body = b"" if framing == "none" else draw(st.binary(max_size=300))
    wire = f"{method} {path}{query} HTTP/1.1".encode() + eol
    wire += b"".join(f"{n}:{' ' * draw(st.integers(0, 2))}{v}".encode("latin-1") + eol for n, v in headers)
    expected_headers = [(n.lower(), v) for n, v in headers]
    if close:
        wire += b"Connection: close" + eol
        expected_headers.append(("connection", "close"))
    if framing == "length":
        wire += f"Content-Length: {len(body)}".encode() + eol + eol + body
        expected_headers.append(("content-length", str(len(body))))
    elif framing == "chunked":
        wire += b"Transfer-Encoding: chunked" + eol + eol
        expected_headers.append(("transfer-encoding", "chunked"))
        at = 0
        for size in draw(st.lists(st.integers(1, 120), max_size=6)) + [len(body)]:
            piece = body[at:at + size]
            if piece:
                ext = draw(st.sampled_from([b"", b";x", b";x=1", b' ; n="v"']))
                wire += b"%X" % len(piece) + ext + eol + piece + eol
            at += len(piece)
        wire += b"0" + eol + draw(st.sampled_from([b"", b"T: 1" + eol])) + eol
    else:
        wire += eol
    return wire, (method, path + query, expected_headers, body, not close)


@PROPERTY
@given(batch=st.lists(requests(), min_size=1, max_size=4), data=st.data())
def test_any_chunking_of_pipelined_requests_parses_the_same(batch, data):
    stream = b"".join(wire for wire, _ in batch)
    got = parse_all(stream, cut(stream, data.draw))
    assert [(r.method, r.target, r.headers, r.body, r.keep_alive) for r in got] == [e for _, e in batch]


@settings(max_examples=15, deadline=None)
@given(batch=st.lists(requests(), min_size=1, max_size=3))
def test_byte_at_a_time_equals_all_at_once(batch):
    stream = b"".join(wire for wire, _ in batch)
    whole = [summary(r) for r in parse_all(stream)]
    assert [summary(r) for r in parse_all(stream, [stream[i:i + 1] for i in range(len(stream))])] == whole
    assert len(whole) == len(batch)


# Garbage made of the pieces where a parser goes wrong, so it gets past the request line.
FRAGMENTS = [b"GET ", b"POST ", b"/", b"/x?a=1", b" HTTP/1.1", b" HTTP/1.0", b"HTTP/2.0", b"\r\n", b"\n",
             b"\r", b"Content-Length: ", b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip",
             b"Connection: close", b"0", b"5", b"ff", b"-1", b"99999999999999999999", b";x=y", b":",
             b" ", b"\t", b"hello", b"\x00", b"\xff", b"X-A: b"]
GARBAGE = st.binary(max_size=300) | st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(garbage=GARBAGE, data=st.data())
def test_garbage_raises_only_http_errors(garbage, data):
    try:
        with never_hangs():
            parse_all(garbage, cut(garbage, data.draw, 6), max_header_bytes=64, max_body_bytes=64)
    except HttpError as error:
        assert error.status in (400, 413, 431, 501, 505)


@PROPERTY
@given(garbage=GARBAGE)
def test_garbage_after_a_chunked_head_raises_only_http_errors(garbage):
    try:
        with never_hangs():
            parse_all(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + garbage, max_body_bytes=64)
    except HttpError as error:
        assert error.status in (400, 413, 431, 501, 505)


@PROPERTY
@given(size=st.integers(40, 140), limit=st.integers(40, 140), eol=st.sampled_from([b"\r\n", b"\n"]),
       data=st.data())
def test_a_head_is_accepted_exactly_when_it_fits_the_limit(size, limit, eol, data):
    start = b"GET / HTTP/1.1" + eol + b"X: "
    wire = start + b"a" * (size - len(start) - len(eol)) + eol + eol
    pieces = cut(wire, data.draw, 4)
    if size <= limit:
        assert len(parse_all(wire, pieces, max_header_bytes=limit)) == 1
    else:
        assert status_of(wire, pieces, max_header_bytes=limit) == 431
