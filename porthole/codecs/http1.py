"""HTTP/1.1 for probes: a request builder and a bounded, sans-IO response reader.

What it is for: porthole sends exactly one request per connection (``Connection:
close``) and reads one response from a device that may be hostile. Bytes go in
through ``ResponseReader.feed`` / ``feed_eof``; ``next_event`` returns a
``ResponseHead``, then one ``ResponseBody``, or ``NEED_DATA``. It never touches a
socket, a clock or randomness, and the only exception it raises is ``CodecError``.

Why not h11: h11 is well kept and would do, but porthole needs less and stricter
than a general client: caps that are separate and named in the error (a device
that streams an endless header must end as "header block larger than 16384
bytes", not as a generic size error), a body *cap* that ends reading with the
first bytes kept rather than failing (a 10 MB page still has a title), tolerance
of what embedded servers send (bare LF line ends, HTTP/1.0, obs-fold) and no
extra runtime dependency in a tool installed next to the charger. The whole
grammar porthole needs is the few rules below.

Wire format (RFC 9112 §2.1, §4, §5, §6, §7.1)::

    HTTP/1.1 SP 200 SP OK CRLF              status-line = version SP 3DIGIT SP [reason]
    Server: lighttpd/1.4 CRLF               field-line  = token ":" OWS value OWS
      continued value CRLF                  obs-fold (§5.2): replaced by one SP
    Content-Length: 5 CRLF
    CRLF                                    end of the header block
    hello                                   body: Content-Length, chunked, or until close

    chunked body (§7.1):
    5;ext=1 CRLF  hello CRLF                chunk-size (hex) [extensions] CRLF data CRLF
    0 CRLF                                  last-chunk
    Trailer: x CRLF                         trailer fields (read and dropped)
    CRLF

Body framing (RFC 9112 §6.3), in order: no body for 1xx/204/304 or a HEAD
request; ``Transfer-Encoding`` whose last coding is ``chunked`` → chunked (it
wins over ``Content-Length``); any other ``Transfer-Encoding`` → until close;
a valid ``Content-Length`` → exactly that many bytes; otherwise until close.
Interim 1xx heads (e.g. ``100 Continue``) are skipped, at most ``MAX_INTERIM``.

Caps (everything a device can inflate):

* header block ≤ ``max_head`` (16 KiB, h11's default), checked as bytes arrive, so
  an endless header ends as ``CodecError("header block larger than …")``;
* within a complete block: ≤ ``max_fields`` field lines (100) and each line ≤
  ``max_line`` bytes (8 KiB);
* body ≤ ``max_body``: reaching it ends the body with ``BodyEnd.CAPPED`` and the
  first ``max_body`` bytes, it is not an error;
* chunk-size lines and trailers obey the line and block caps.

Must not: decide anything about the device, follow redirects, or buffer more
than the caps allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum

from porthole.codecs._errors import CodecError

__all__ = [
    "NEED_DATA",
    "NeedData",
    "CapExceeded",
    "Method",
    "BodyEnd",
    "ResponseHead",
    "ResponseBody",
    "ResponseReader",
    "build_request",
    "MAX_HEAD",
    "MAX_FIELDS",
    "MAX_LINE",
    "MAX_INTERIM",
]

MAX_HEAD = 16 * 1024
MAX_FIELDS = 100
MAX_LINE = 8 * 1024
MAX_INTERIM = 8

# RFC 9110 §5.6.2: token = 1*tchar
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: (.*))?")
# The end of a header block: an empty line, with CRLF or (embedded servers) bare LF.
_BLOCK_END = re.compile(rb"\r?\n\r?\n")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?")
_FORBIDDEN_IN_VALUES = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_REQUEST_TARGET = re.compile(r"/[\x21-\x7e]*")
_DECIMAL = re.compile(r"[0-9]{1,18}")


class CapExceeded(CodecError):
    """A size or count cap was reached (endless header, too many fields): still a ``CodecError``."""


class NeedData(Enum):
    """``next_event`` has nothing to return until more bytes (or EOF) are fed."""

    NEED_DATA = "need-data"


NEED_DATA = NeedData.NEED_DATA


class Method(StrEnum):
    """The only methods porthole ever sends (read-only probes; OCPP-S needs a POST)."""

    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"


class BodyEnd(StrEnum):
    """Why the body event ended."""

    #: the framing ended it (Content-Length reached, last chunk, EOF for a close-delimited body)
    COMPLETE = "complete"
    #: ``max_body`` bytes were kept; the rest was not read
    CAPPED = "capped"
    #: the peer closed before the framing said the body ended
    TRUNCATED = "truncated"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseHead:
    """Status line and header fields; names are lower-cased, order and repeats kept."""

    http_version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    #: bytes the head took on the wire (status line to the empty line)
    size: int

    def header(self, name: str) -> str | None:
        """The first value of ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of ``name``, in order (``Set-Cookie`` and ``WWW-Authenticate`` repeat)."""
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key == wanted)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseBody:
    data: bytes
    end: BodyEnd
    #: ``content-length``, ``chunked``, ``close`` or ``none``
    framing: str


def build_request(
    *,
    method: Method,
    target: str,
    host: str,
    user_agent: str,
    accept: str = "*/*",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
) -> bytes:
    """One HTTP/1.1 request that closes the connection after the response.

    ``Connection: close`` always (protocols.md §1: one request per connection); a
    body gets its ``Content-Length``. CR, LF and other controls in any value are
    refused: they would smuggle extra header lines into the device.
    """
    if not _REQUEST_TARGET.fullmatch(target):
        raise CodecError(f"request target {target!r} must be an origin-form path such as '/' (printable ASCII, no spaces)")
    fields = [("Host", host), ("User-Agent", user_agent), ("Accept", accept), *headers]
    if body is not None:
        fields.append(("Content-Length", str(len(body))))
    fields.append(("Connection", "close"))
    lines = [f"{method.value} {target} HTTP/1.1"]
    for name, value in fields:
        if not _TOKEN.fullmatch(name.encode("latin-1", "replace")):
            raise CodecError(f"header name {name!r} is not an HTTP token")
        if _FORBIDDEN_IN_VALUES.search(value) or not value.isascii():
            raise CodecError(f"header {name} value {value!r} must be printable ASCII without CR or LF")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")


class ResponseReader:
    """Reads one response: ``ResponseHead`` then ``ResponseBody``, driven by ``feed``.

    ``next_event`` returns the next event or ``NEED_DATA``; after the body it keeps
    returning ``None`` (bytes after the body are ignored: one request per
    connection). Feeding after ``feed_eof`` is a usage error (``ValueError``).
    """

    def __init__(
        self,
        *,
        request_method: Method = Method.GET,
        max_head: int = MAX_HEAD,
        max_fields: int = MAX_FIELDS,
        max_line: int = MAX_LINE,
        max_body: int = 256 * 1024,
    ) -> None:
        self._request_method = request_method
        self._max_head = max_head
        self._max_fields = max_fields
        self._max_line = max_line
        self._max_body = max_body
        self._buffer = bytearray()
        self._eof = False
        self._head: ResponseHead | None = None
        self._interim = 0
        self._offset = 0  # bytes consumed before the current buffer (for error offsets)
        self._done = False
        # body state
        self._framing = ""
        self._remaining = 0  # content-length: bytes still expected
        self._body = bytearray()
        self._chunk_left = -1  # chunked: data bytes left in this chunk; -1 = size line next
        self._in_trailers = False
        self._trailer_bytes = 0
        self._scanned = 0  # head: buffer prefix already searched for the empty line

    @property
    def head(self) -> ResponseHead | None:
        return self._head

    @property
    def buffered(self) -> int:
        """Bytes fed and not yet consumed (for "stalled after N bytes" messages)."""
        return len(self._buffer)

    def peek_head_start(self, limit: int = 80) -> str:
        """The first line of a head still incomplete (for "stalled after 'HTTP/1.1 200 OK'")."""
        first_line = bytes(self._buffer[:limit]).split(b"\n", 1)[0].rstrip(b"\r")
        return first_line.decode("latin-1")

    def feed(self, data: bytes) -> None:
        if self._eof:
            raise ValueError("feed() after feed_eof()")
        if not self._done:
            self._buffer += data

    def feed_eof(self) -> None:
        self._eof = True

    def next_event(self) -> ResponseHead | ResponseBody | NeedData | None:
        if self._done:
            return None
        if self._head is None:
            return self._next_head()
        return self._next_body()

    # ------------------------------------------------------------------ head
    def _next_head(self) -> ResponseHead | NeedData:
        while True:
            self._check_status_prefix()
            # resume where the last search stopped (minus a partial "\r\n\r"), so
            # byte-by-byte feeding stays linear
            match = _BLOCK_END.search(self._buffer, max(self._scanned - 3, 0), self._max_head + 4)
            self._scanned = len(self._buffer)
            if match is None or match.end() > self._max_head:
                if len(self._buffer) > self._max_head:
                    raise CapExceeded(f"header block larger than {self._max_head} bytes", offset=self._offset + self._max_head)
                if self._eof:
                    raise CodecError(
                        f"connection closed inside the response head after {len(self._buffer)} bytes" if self._buffer else "connection closed before any response byte",
                        offset=self._offset + len(self._buffer),
                    )
                return NEED_DATA
            block = bytes(self._buffer[: match.start()])
            size = match.end()
            head = self._parse_head(block, size)
            del self._buffer[:size]
            self._offset += size
            self._scanned = 0
            if 100 <= head.status < 200:
                # interim response (RFC 9110 §15.2): the final one follows
                self._interim += 1
                if self._interim > MAX_INTERIM:
                    raise CapExceeded(f"more than {MAX_INTERIM} interim (1xx) responses", offset=self._offset)
                continue
            self._head = head
            self._start_body(head)
            return head

    def _check_status_prefix(self) -> None:
        # Fail fast on a device that answers with something else than HTTP, instead
        # of waiting for 16 KiB of garbage.
        prefix = bytes(self._buffer[:5])
        if prefix and not b"HTTP/".startswith(prefix):
            raise CodecError(f"not an HTTP response: starts with {bytes(self._buffer[:40])!r}", offset=self._offset)

    def _parse_head(self, block: bytes, size: int) -> ResponseHead:
        lines = block.split(b"\n")
        lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        for index, line in enumerate(lines):
            if len(line) > self._max_line:
                raise CapExceeded(f"header line {index} longer than {self._max_line} bytes", offset=self._offset)
        status_line = lines[0]
        match = _STATUS_LINE.fullmatch(status_line)
        if match is None:
            raise CodecError(f"malformed status line {status_line[:80]!r}", offset=self._offset)
        major, minor, status, reason = match.groups()
        if major != b"1":
            raise CodecError(f"unsupported HTTP version {major.decode()}.{minor.decode()} in the status line", offset=self._offset)
        field_lines = lines[1:]
        if len(field_lines) > self._max_fields:
            raise CapExceeded(f"more than {self._max_fields} header field lines", offset=self._offset)
        headers: list[tuple[str, str]] = []
        for line in field_lines:
            if line[:1] in (b" ", b"\t"):
                # obs-fold (RFC 9112 §5.2): a user agent replaces it with SP
                if not headers:
                    raise CodecError("header block starts with a continuation line", offset=self._offset)
                name, value = headers[-1]
                continuation = line.strip(b" \t").decode("latin-1")
                headers[-1] = (name, f"{value} {continuation}".strip())
                continue
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                raise CodecError(f"malformed header field line {line[:80]!r}", offset=self._offset)
            headers.append((name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")))
        return ResponseHead(
            http_version=f"HTTP/{major.decode()}.{minor.decode()}",
            status=int(status),
            reason=(reason or b"").decode("latin-1").strip(),
            headers=tuple(headers),
            size=size,
        )

    # ------------------------------------------------------------------ body
    def _start_body(self, head: ResponseHead) -> None:
        if self._request_method is Method.HEAD or head.status in (204, 304):
            self._framing = "none"
            return
        codings = [coding.strip().lower() for value in head.header_values("transfer-encoding") for coding in value.split(",") if coding.strip()]
        if codings:
            self._framing = "chunked" if codings[-1] == "chunked" else "close"
            return
        # "5, 5" (a list) and repeated fields with one value are the same length
        lengths = {item.strip() for value in head.header_values("content-length") for item in value.split(",")}
        if lengths:
            (length, *others) = sorted(lengths)
            # RFC 9112 §6.3 rule 5: differing or invalid lengths are unrecoverable
            if others or not _DECIMAL.fullmatch(length):
                raise CodecError(f"invalid Content-Length {sorted(lengths)!r}", offset=self._offset)
            self._framing = "content-length"
            self._remaining = int(length)
            return
        self._framing = "close"

    def _next_body(self) -> ResponseBody | NeedData:
        if self._framing == "none":
            return self._finish(BodyEnd.COMPLETE)
        if self._framing == "content-length":
            take = min(self._remaining, len(self._buffer))
            self._keep(bytes(self._buffer[:take]))
            self._remaining -= take
            del self._buffer[:take]
            if len(self._body) >= self._max_body and self._remaining > 0:
                return self._finish(BodyEnd.CAPPED)
            if self._remaining == 0:
                return self._finish(BodyEnd.COMPLETE)
            return self._finish(BodyEnd.TRUNCATED) if self._eof else NEED_DATA
        if self._framing == "close":
            self._keep(bytes(self._buffer))
            self._buffer.clear()
            if len(self._body) >= self._max_body:
                return self._finish(BodyEnd.CAPPED)
            return self._finish(BodyEnd.COMPLETE) if self._eof else NEED_DATA
        return self._next_chunked()

    def _next_chunked(self) -> ResponseBody | NeedData:
        while True:
            if len(self._body) >= self._max_body:
                return self._finish(BodyEnd.CAPPED)
            if self._in_trailers:
                line = self._take_line()
                if line is None:
                    return self._finish(BodyEnd.TRUNCATED) if self._eof else NEED_DATA
                if line == b"":
                    return self._finish(BodyEnd.COMPLETE)
                continue  # trailer fields are read and dropped
            if self._chunk_left < 0:
                line = self._take_line()
                if line is None:
                    return self._finish(BodyEnd.TRUNCATED) if self._eof else NEED_DATA
                match = _CHUNK_SIZE.fullmatch(line)
                if match is None:
                    raise CodecError(f"malformed chunk-size line {line[:40]!r}", offset=self._offset)
                size = int(match.group(1), 16)
                if size == 0:
                    self._in_trailers = True
                else:
                    self._chunk_left = size
                continue
            if self._chunk_left > 0:
                take = min(self._chunk_left, len(self._buffer))
                if take == 0:
                    return self._finish(BodyEnd.TRUNCATED) if self._eof else NEED_DATA
                self._keep(bytes(self._buffer[:take]))
                self._consume(take)
                self._chunk_left -= take
                continue
            # the CRLF after the chunk data
            line = self._take_line()
            if line is None:
                return self._finish(BodyEnd.TRUNCATED) if self._eof else NEED_DATA
            if line != b"":
                raise CodecError(f"chunk data not followed by CRLF: {line[:40]!r}", offset=self._offset)
            self._chunk_left = -1

    def _take_line(self) -> bytes | None:
        """One line without its ending, or ``None`` if incomplete; ``max_line`` applies."""
        end = self._buffer.find(b"\n", 0, self._max_line + 2)
        if end < 0:
            if len(self._buffer) > self._max_line:
                raise CapExceeded(f"chunked framing line longer than {self._max_line} bytes", offset=self._offset)
            return None
        line = bytes(self._buffer[:end])
        self._consume(end + 1)
        if self._in_trailers:
            self._trailer_bytes += end + 1
            if self._trailer_bytes > self._max_head:
                raise CapExceeded(f"trailer block larger than {self._max_head} bytes", offset=self._offset)
        return line[:-1] if line.endswith(b"\r") else line

    def _consume(self, count: int) -> None:
        del self._buffer[:count]
        self._offset += count

    def _keep(self, data: bytes) -> None:
        room = self._max_body - len(self._body)
        self._body += data[: max(room, 0)]

    def _finish(self, end: BodyEnd) -> ResponseBody:
        self._done = True
        self._buffer.clear()
        return ResponseBody(data=bytes(self._body), end=end, framing=self._framing)
