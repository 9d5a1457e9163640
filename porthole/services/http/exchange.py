"""One HTTP request and its response over a stream the caller opened: the thin I/O loop.

The httpcore shape: write the request, then ask the sans-IO ``ResponseReader``
for an event; on ``NEED_DATA`` read once (bounded in size and time) and feed it.
The OCPP-S probe uses it too (its SOAP POST is one HTTP exchange).

How a response can end, and what the caller gets:

==========================================  ===============================================
the device…                                 result
==========================================  ===============================================
answers completely                          ``Exchange`` with head and body
closes without a byte                       ``Exchange(silence="closed")`` (a forwarder
                                            without its peer looks like this, protocols.md §1)
sends nothing within ``first_byte``         ``Exchange(silence="silent")``
stalls or closes inside the head            ``ProbeFailure`` timeout / malformed, naming the
                                            bytes seen (e.g. the status line)
stalls or closes inside the body            ``Exchange`` with the body so far, ``body_stalled``
                                            or ``BodyEnd.TRUNCATED``
sends garbage, an endless header            ``ProbeFailure`` malformed / too-large with the
                                            codec's message
sends a 10 MB body                          ``Exchange`` with the first ``max_body`` bytes,
                                            ``BodyEnd.CAPPED``; the rest is never read
==========================================  ===============================================

Must not: open or close the stream (the caller does), retry, or follow redirects.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from porthole.codecs import CodecError
from porthole.codecs.http1 import NEED_DATA, CapExceeded, Method, ResponseBody, ResponseHead, ResponseReader
from porthole.errors import ErrorReason
from porthole.services.base import ProbeFailure, ProbeLimits

__all__ = ["Exchange", "exchange"]

_READ_SIZE = 16 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    head: ResponseHead | None = None
    body: ResponseBody | None = None
    #: no response byte at all: ``closed`` (EOF) or ``silent`` (nothing within ``first_byte``)
    silence: str | None = None
    #: the head arrived, then the body stalled (what was read is in ``body``)
    body_stalled: bool = False
    bytes_read: int = 0


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
    *,
    limits: ProbeLimits,
    request_method: Method,
    max_body: int,
) -> Exchange:
    """Send ``request`` and read one response within ``limits`` (see the module table)."""
    writer.write(request)
    try:
        async with asyncio.timeout(limits.first_byte):
            await writer.drain()
    except TimeoutError:
        raise ProbeFailure(ErrorReason.TIMEOUT, f"the device did not take the {len(request)}-byte request within {limits.first_byte:g} s") from None
    except (ConnectionError, ssl.SSLError) as exc:
        raise ProbeFailure(ErrorReason.CONNECTION_RESET, f"the connection failed while sending the request: {exc}") from None
    response = ResponseReader(request_method=request_method, max_line=limits.max_line, max_body=max_body)
    head: ResponseHead | None = None
    bytes_read = 0
    body_stalled = False
    wait = limits.first_byte
    while True:
        try:
            event = response.next_event()
        except CapExceeded as exc:
            raise ProbeFailure(ErrorReason.TOO_LARGE, f"HTTP response over porthole's caps: {exc}") from None
        except CodecError as exc:
            raise ProbeFailure(ErrorReason.MALFORMED, f"malformed HTTP response: {exc}") from None
        if isinstance(event, ResponseHead):
            head = event
            continue
        if isinstance(event, ResponseBody):
            return Exchange(head=head, body=event, body_stalled=body_stalled, bytes_read=bytes_read)
        assert event is NEED_DATA, event
        try:
            async with asyncio.timeout(wait):
                chunk = await reader.read(_READ_SIZE)
        except TimeoutError:
            if bytes_read == 0:
                return Exchange(silence="silent")
            if head is None:
                raise ProbeFailure(ErrorReason.TIMEOUT, f"the response stalled inside its head after {bytes_read} bytes{_status_line_hint(response)}") from None
            body_stalled = True
            chunk = b""
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as exc:
            if head is None:
                raise ProbeFailure(ErrorReason.CONNECTION_RESET, f"the connection was reset after {bytes_read} response bytes: {exc}") from None
            chunk = b""  # the head is in; what came of the body is still evidence
        if not chunk:
            if bytes_read == 0:
                return Exchange(silence="closed")
            response.feed_eof()
            continue
        bytes_read += len(chunk)
        response.feed(chunk)
        wait = limits.between_chunks


def _status_line_hint(response: ResponseReader) -> str:
    # ResponseReader keeps the unparsed head; name its first line so the report says
    # "stalled after 'HTTP/1.1 200 OK'" rather than just a byte count.
    return f" (it began {response.peek_head_start()!r})"
