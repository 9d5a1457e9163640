"""porthole.codecs.http1: exact request bytes, and a response reader that holds against hostile bytes.

Recorded fixtures (tests/fixtures/wire/http1/) are what the lab's real servers sent
(aiohttp.web for the web UI and OCPP-S, the stdlib-ssl TLS server's page) to the
request ``build_request`` makes. Every parse runs whole, byte by byte and with
trailing bytes (h11's discipline): a response must not depend on how TCP chunks it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.codecs import CodecError
from porthole.codecs.http1 import (
    MAX_FIELDS,
    MAX_HEAD,
    NEED_DATA,
    BodyEnd,
    CapExceeded,
    Method,
    ResponseBody,
    ResponseHead,
    ResponseReader,
    build_request,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "wire" / "http1"


def read_all(chunks: list[bytes], *, eof: bool = True, **reader_options: object) -> tuple[ResponseHead, ResponseBody]:
    """Feed ``chunks`` one at a time, draining events between them, then EOF."""
    reader = ResponseReader(**reader_options)  # type: ignore[arg-type]
    events: list[object] = []

    def drain() -> None:
        while True:
            event = reader.next_event()
            if event is NEED_DATA or event is None:
                return
            events.append(event)

    for chunk in chunks:
        reader.feed(chunk)
        drain()
    if eof:
        reader.feed_eof()
        drain()
    head, body = events
    assert isinstance(head, ResponseHead) and isinstance(body, ResponseBody)
    return head, body


def splits(data: bytes) -> dict[str, list[bytes]]:
    return {"whole": [data], "byte-by-byte": [data[i : i + 1] for i in range(len(data))]}


# --- request builder ----------------------------------------------------------------------


def test_get_request_is_the_protocols_md_request_byte_for_byte() -> None:
    # Given the probe's GET / When built Then it carries exactly Host, UA, Accept and Connection: close
    assert build_request(method=Method.GET, target="/", host="198.18.0.10", user_agent="porthole/0.1.0") == (
        b"GET / HTTP/1.1\r\nHost: 198.18.0.10\r\nUser-Agent: porthole/0.1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )


def test_post_request_carries_its_body_with_content_length() -> None:
    # Given a POST with a body and a Content-Type
    request = build_request(method=Method.POST, target="/", host="198.18.0.12:8090", user_agent="porthole/0.1.0", headers=[("Content-Type", "application/soap+xml; charset=utf-8")], body=b"<x/>")
    # Then the body follows the head, framed by Content-Length, and the connection closes after
    assert request == (
        b"POST / HTTP/1.1\r\nHost: 198.18.0.12:8090\r\nUser-Agent: porthole/0.1.0\r\nAccept: */*\r\n"
        b"Content-Type: application/soap+xml; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\n<x/>"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"host": "198.18.0.10\r\nCookie: a=b"}, id="crlf-in-host"),
        pytest.param({"host": "h", "user_agent": "porthole\n"}, id="lf-in-user-agent"),
        pytest.param({"host": "h", "target": "/ HTTP/1.0\r\n"}, id="target-with-space-and-crlf"),
        pytest.param({"host": "h", "target": "http://elsewhere/"}, id="absolute-form-target"),
        pytest.param({"host": "h", "headers": [("Bad Name", "x")]}, id="header-name-not-a-token"),
        pytest.param({"host": "h\u00e9"}, id="non-ascii-value"),
    ],
)
def test_request_builder_refuses_header_injection_and_odd_targets(kwargs: dict[str, object]) -> None:
    # Given a value that would smuggle a header line or change the request line
    arguments = {"method": Method.GET, "target": "/", "user_agent": "porthole/0.1.0", **kwargs}
    # When built Then it is refused instead of sent to the device
    with pytest.raises(CodecError):
        build_request(**arguments)  # type: ignore[arg-type]


# --- recorded responses -------------------------------------------------------------------

RECORDED = [
    ("aiohttp-redirect-to-https.bin", 301, {"location": "https://127.0.0.1/", "server": "Python/3.11 aiohttp/3.14.5"}, b"301: Moved Permanently"),
    ("aiohttp-basic-challenge.bin", 401, {"www-authenticate": 'Basic realm="Charge Controller"'}, b"401 Unauthorized\n"),
    ("aiohttp-login-form.bin", 200, {"content-type": "text/html; charset=utf-8"}, None),
    ("aiohttp-dashboard.bin", 200, {"content-type": "text/html; charset=utf-8"}, None),
    ("aiohttp-legacy.bin", 200, {"content-type": "text/html; charset=utf-8"}, None),
    ("aiohttp-not-found.bin", 404, {"content-type": "text/plain; charset=utf-8"}, b"404: Not Found"),
    ("aiohttp-ocpps-fault.bin", 400, {"content-type": "application/soap+xml; charset=utf-8"}, None),
    ("tls-server-hsts.bin", 200, {"strict-transport-security": "max-age=31536000"}, None),
]


@pytest.mark.parametrize(("name", "status", "headers", "body"), RECORDED, ids=[case[0] for case in RECORDED])
@pytest.mark.parametrize("split", ["whole", "byte-by-byte", "trailing-bytes"])
def test_recorded_lab_responses_parse_the_same_however_they_are_chunked(name: str, status: int, headers: dict[str, str], body: bytes | None, split: str) -> None:
    # Given bytes a real server sent to porthole's GET
    data = (FIXTURES / name).read_bytes()
    head_bytes, _, expected_body = data.partition(b"\r\n\r\n")
    chunks = {"whole": [data], "byte-by-byte": [data[i : i + 1] for i in range(len(data))], "trailing-bytes": [data + b"HTTP/1.1 200 OK\r\n\r\nnot ours"]}[split]
    # When read
    head, parsed_body = read_all(chunks)
    # Then status, headers and the Content-Length-framed body come out, and bytes after the body are ignored
    assert head.status == status
    assert head.http_version == "HTTP/1.1"
    for key, value in headers.items():
        assert head.header(key) == value
    assert head.size == len(head_bytes) + 4
    assert parsed_body == ResponseBody(data=body if body is not None else expected_body, end=BodyEnd.COMPLETE, framing="content-length")


# --- framing rules (RFC 9112 §6.3, §7.1) -----------------------------------------------------

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 999\r\n\r\n"
    b"7;note=x\r\n<title>\r\n"
    b"a\r\nCharge Con\r\n"
    b"11\r\ntroller</title>\r\n\r\n"
    b"0\r\nExpires: never\r\n\r\n"
)


@pytest.mark.parametrize("split", ["whole", "byte-by-byte"])
def test_chunked_body_is_reassembled_extensions_and_trailers_dropped(split: str) -> None:
    # Given a chunked response that also (wrongly) carries Content-Length
    # When read
    _head, body = read_all(splits(CHUNKED)[split], eof=False)
    # Then chunked wins (RFC 9112 §6.3 rule 3) and the body ends at the last chunk without EOF
    assert body == ResponseBody(data=b"<title>Charge Controller</title>\r\n", end=BodyEnd.COMPLETE, framing="chunked")


def test_close_delimited_body_ends_at_eof_and_tolerates_bare_lf_and_http_1_0() -> None:
    # Given an embedded server's HTTP/1.0 answer with bare LF line ends and no length
    data = b"HTTP/1.0 200 OK\nServer: GoAhead-Webs\n\n<html>hi</html>"
    # When read to EOF
    head, body = read_all([data])
    # Then the head parses and the body is everything up to the close
    assert (head.http_version, head.status, head.header("server")) == ("HTTP/1.0", 200, "GoAhead-Webs")
    assert body == ResponseBody(data=b"<html>hi</html>", end=BodyEnd.COMPLETE, framing="close")


def test_interim_100_continue_is_skipped_and_folded_header_lines_are_joined() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-Note: first\r\n  second\r\n\r\n"
    head, body = read_all([data], eof=False)
    # Then the final response is the 204, obs-fold became one space, and a 204 has no body
    assert head.status == 204
    assert head.header("x-note") == "first second"
    assert body == ResponseBody(data=b"", end=BodyEnd.COMPLETE, framing="none")


def test_head_request_response_has_no_body_despite_content_length() -> None:
    head, body = read_all([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"], eof=False, request_method=Method.HEAD)
    assert head.status == 200 and body.framing == "none" and body.data == b""


def test_repeated_headers_keep_every_value_in_order() -> None:
    head, _ = read_all([b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=x\r\nWWW-Authenticate: Basic realm=y\r\nContent-Length: 0\r\n\r\n"])
    assert head.header_values("WWW-Authenticate") == ("Digest realm=x", "Basic realm=y")


def test_body_cut_short_by_the_peer_is_truncated_not_an_error() -> None:
    _head, body = read_all([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"])
    assert body == ResponseBody(data=b"only this", end=BodyEnd.TRUNCATED, framing="content-length")


@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
def test_ten_megabyte_body_is_capped_keeping_the_first_bytes(framing: str) -> None:
    # Given a 10 MB page, framed three ways, fed in 64 KiB pieces as a socket would
    page = b"<title>big</title>" + b"x" * (10 * 1024 * 1024)
    head = {"content-length": f"Content-Length: {len(page)}\r\n", "chunked": "Transfer-Encoding: chunked\r\n", "close": ""}[framing]
    payload = f"{len(page):x}\r\n".encode() + page + b"\r\n0\r\n\r\n" if framing == "chunked" else page
    data = f"HTTP/1.1 200 OK\r\n{head}\r\n".encode() + payload
    reader = ResponseReader(max_body=64 * 1024)
    events: list[object] = []
    fed = 0
    while not any(isinstance(event, ResponseBody) for event in events):
        reader.feed(data[fed : fed + 65536])
        fed += 65536
        while (event := reader.next_event()) not in (NEED_DATA, None):
            events.append(event)
    # Then the body event comes after about 64 KiB, holding the first 64 KiB, marked capped
    body = events[-1]
    assert isinstance(body, ResponseBody)
    assert body.end is BodyEnd.CAPPED
    assert body.data == page[: 64 * 1024]
    assert fed <= 3 * 65536


# --- hostile heads ---------------------------------------------------------------------------


def test_endless_header_ends_as_header_block_larger_than_the_cap() -> None:
    # Given a device that sends a status line and then header lines forever
    reader = ResponseReader()
    reader.feed(b"HTTP/1.1 200 OK\r\n")
    assert reader.next_event() is NEED_DATA
    # When the lines keep coming in small pieces
    with pytest.raises(CapExceeded, match=f"header block larger than {MAX_HEAD} bytes"):
        for index in range(10_000):
            reader.feed(f"X-Pad-{index}: {'a' * 20}\r\n".encode())
            assert reader.next_event() is NEED_DATA
    # Then it stopped after about 16 KiB, not 10 000 lines
    assert index * 30 < MAX_HEAD + 100


def test_one_never_ending_header_line_also_ends_at_the_block_cap() -> None:
    reader = ResponseReader()
    reader.feed(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * MAX_HEAD)
    with pytest.raises(CapExceeded, match="header block larger than"):
        reader.next_event()


def test_too_many_fields_in_a_complete_head_are_refused() -> None:
    data = b"HTTP/1.1 200 OK\r\n" + b"".join(b"a%d: b\r\n" % i for i in range(MAX_FIELDS + 1)) + b"\r\n"
    reader = ResponseReader()
    reader.feed(data)
    with pytest.raises(CapExceeded, match=f"more than {MAX_FIELDS} header field lines"):
        reader.next_event()


def test_overlong_line_in_a_complete_head_is_refused() -> None:
    reader = ResponseReader(max_line=100)
    reader.feed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200 + b"\r\n\r\n")
    with pytest.raises(CapExceeded, match="header line 1 longer than 100 bytes"):
        reader.next_event()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP response", id="ssh-banner"),
        pytest.param(b"\x16\x03\x03\x00\x02\x02\x28", "not an HTTP response", id="tls-alert"),
        pytest.param(b"HTTP/1.1 OK 200\r\n\r\n", "malformed status line", id="swapped-status"),
        pytest.param(b"HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version", id="http2-text"),
        pytest.param(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header field line", id="field-without-colon"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "invalid Content-Length", id="conflicting-lengths"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length", id="negative-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk-size line", id="bad-chunk-size"),
    ],
)
def test_garbage_is_a_codec_error_naming_what_is_wrong(data: bytes, message: str) -> None:
    reader = ResponseReader()
    reader.feed(data)
    with pytest.raises(CodecError, match=message):
        while reader.next_event() is not None:
            pass


def test_garbage_status_line_fails_fast_without_waiting_for_more_bytes() -> None:
    # Given only the first five bytes of a non-HTTP answer, Then it is refused at once
    reader = ResponseReader()
    reader.feed(b"220 s")
    with pytest.raises(CodecError, match="not an HTTP response"):
        reader.next_event()


def test_eof_inside_the_head_is_an_error_naming_the_bytes_seen() -> None:
    reader = ResponseReader()
    reader.feed(b"HTTP/1.1 200 OK\r\n")
    assert reader.next_event() is NEED_DATA
    assert reader.peek_head_start() == "HTTP/1.1 200 OK"
    reader.feed_eof()
    with pytest.raises(CodecError, match="closed inside the response head after 17 bytes"):
        reader.next_event()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2048), cut=st.integers(min_value=1, max_value=64))
def test_fuzz_any_bytes_give_events_or_codec_error_only(data: bytes, cut: int) -> None:
    # Given arbitrary bytes in arbitrary chunks, When read to EOF, Then only events or CodecError
    reader = ResponseReader(max_body=512)
    try:
        for start in range(0, len(data), cut):
            reader.feed(data[start : start + cut])
            while reader.next_event() not in (NEED_DATA, None):
                pass
        reader.feed_eof()
        while reader.next_event() not in (NEED_DATA, None):
            pass
    except CodecError:
        pass


TOKEN_CHARACTERS = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
VALUE_CHARACTERS = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), headers=st.lists(st.tuples(st.text(TOKEN_CHARACTERS, min_size=1, max_size=16), st.text(VALUE_CHARACTERS, max_size=40)), max_size=8))
def test_fuzz_well_formed_responses_round_trip(body: bytes, headers: list[tuple[str, str]]) -> None:
    # Given a valid response built from arbitrary fields (no framing headers of their own)
    headers = [(name, value) for name, value in headers if name.lower() not in ("content-length", "transfer-encoding")]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    data = f"HTTP/1.1 200 OK\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    # When read byte by byte
    parsed_head, parsed_body = read_all([data[i : i + 1] for i in range(len(data))], eof=False)
    # Then the fields (values stripped of surrounding whitespace) and the body come back
    assert parsed_head.headers[: len(headers)] == tuple((name.lower(), value.strip(" \t")) for name, value in headers)
    assert parsed_body.data == body
