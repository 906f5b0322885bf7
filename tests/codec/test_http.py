"""HTTP/1.1 request parser and response writer: table-driven cases, limits, and the properties that
any chunking parses the same and garbage raises only HttpError."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blynklite.codec.http import HttpError, RequestParser, chunk, last_chunk, response

PROPERTY = settings(max_examples=80, deadline=None)


def parse_all(data, chunks=None, **limits):
    parser = RequestParser(**limits)
    requests = []
    pieces = [data] if chunks is None else chunks
    for piece in pieces:
        parser.feed(piece)
        while (request := parser.next_request()) is not None:
            requests.append(request)
    return requests


def summary(request):
    return (request.method, request.target, request.path, request.query, request.headers, request.body,
            request.keep_alive)


def test_get_with_query_and_percent_encoded_path():
    [r] = parse_all(b"GET /tok%20en/update/V1?value=1&value=2&x= HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (r.method, r.path, r.raw_path) == ("GET", "/tok en/update/V1", "/tok%20en/update/V1")
    assert r.query == {"value": ["1", "2"], "x": [""]}
    assert r.header("HOST") == "a" and r.keep_alive


@pytest.mark.parametrize("version, connection, keep_alive", [
    ("HTTP/1.1", None, True), ("HTTP/1.1", "close", False), ("HTTP/1.0", None, False),
    ("HTTP/1.0", "keep-alive", True), ("HTTP/1.1", "Upgrade, Close", False)])
def test_keep_alive_rules(version, connection, keep_alive):
    head = f"GET / {version}\r\n" + (f"Connection: {connection}\r\n" if connection else "") + "\r\n"
    assert parse_all(head.encode())[0].keep_alive is keep_alive


def test_content_length_body_and_pipelining():
    data = (b"PUT /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /b HTTP/1.1\r\n\r\n")
    first, second = parse_all(data)
    assert (first.body, second.path, second.body) == (b"hello", "/b", b"")


def test_chunked_body_with_extension_and_trailer():
    data = (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
    first, second = parse_all(data)
    assert first.body == b"hello world" and second.path == "/next"


def test_bare_lf_line_endings_are_tolerated():
    [r] = parse_all(b"GET /x HTTP/1.1\nHost: a\n\n")
    assert r.header("host") == "a"


@pytest.mark.parametrize("data, status", [
    (b"GET /x HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /x HTTP/1.1\r\nX: " + b"a" * 9000, 431),
    (b"PUT /x HTTP/1.1\r\nContent-Length: 600000\r\n\r\n", 413),
    (b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n90000\r\n", 413),
    (b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"PUT /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"PUT /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"PUT /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"GET /x HTTP/2.0\r\n\r\n", 505),
    (b"GET /x\r\n\r\n", 400),
    (b"get /x HTTP/1.1\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nBad Header: 1\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
], ids=["huge header", "huge header still arriving", "huge body", "huge chunk", "unknown coding",
        "length and chunked", "two lengths", "negative length", "http/2", "no version", "lower-case method",
        "space in header name", "obs-fold", "bad chunk size"])
def test_refusals(data, status):
    with pytest.raises(HttpError) as error:
        parse_all(data)
    assert error.value.status == status


def test_a_big_header_is_refused_before_it_is_all_buffered():
    parser = RequestParser(max_header_bytes=8192)
    parser.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(HttpError):
        for _ in range(100):
            parser.feed(b"X: " + b"a" * 1000 + b"\r\n")
            parser.next_request()


def test_unparsed_bytes_after_a_request_are_handed_over():
    parser = RequestParser()
    parser.feed(b"GET /websockets HTTP/1.1\r\n\r\n\x82\x85frame")
    assert parser.next_request().path == "/websockets"
    assert parser.take_unparsed() == b"\x82\x85frame"


def test_response_bytes():
    assert response(200) == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    assert response(400, b"Invalid token.", "text/plain;charset=utf-8", [("A", "b")], keep_alive=False) == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain;charset=utf-8\r\nContent-Length: 14\r\n"
        b"Connection: close\r\nA: b\r\n\r\nInvalid token.")
    assert response(200, b"abc", head=True).endswith(b"Content-Length: 3\r\nConnection: keep-alive\r\n\r\n")
    assert chunk(b"hello") + last_chunk() == b"5\r\nhello\r\n0\r\n\r\n"


# -- properties ----------------------------------------------------------------------------------------
header_value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=0, max_size=20)
request_strategy = st.builds(
    lambda method, path, headers, body, chunked: (method, path, headers, body, chunked),
    st.sampled_from(["GET", "PUT", "POST", "DELETE"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e, blacklist_characters="?#%"),
            max_size=30).map(lambda p: "/" + p),
    st.lists(st.tuples(st.sampled_from(["x-a", "x-b", "accept"]), header_value), max_size=3),
    st.binary(max_size=200), st.booleans())


def encode_request(method, path, headers, body, chunked):
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    if chunked:
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunk(body) + last_chunk()
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@PROPERTY
@given(requests=st.lists(request_strategy, min_size=1, max_size=4), data=st.data())
def test_any_chunking_parses_the_same(requests, data):
    stream = b"".join(encode_request(*r) for r in requests)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    pieces = [stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])]
    whole = [summary(r) for r in parse_all(stream)]
    assert whole == [summary(r) for r in parse_all(b"", pieces)]
    assert [(r[0], r[5]) for r in whole] == [(m, b) for m, _, _, b, _ in requests]


@PROPERTY
@given(st.binary(max_size=300))
def test_garbage_raises_only_http_errors(data):
    try:
        parse_all(data, max_header_bytes=64, max_body_bytes=64)
    except HttpError:
        pass


@PROPERTY
@given(st.binary(max_size=200))
def test_garbage_after_a_valid_head_raises_only_http_errors(data):
    try:
        parse_all(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + data, max_body_bytes=64)
    except HttpError:
        pass
