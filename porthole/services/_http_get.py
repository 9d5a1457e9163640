"""One bounded, paced HTTP/1.1 GET of a small document from the target (SEMP, UPnP descriptions).

Contract:

* GET only, one request per connection (``Connection: close``), never a redirect
  followed, no cookies, no compression (``Accept-Encoding: identity`` and no
  decompression, so a gzip bomb stays a few bytes), no proxy from the environment;
* it connects to the target's address only: the caller gives a port and a path,
  never a host, so a device cannot steer it elsewhere;
* ``context.pace()`` is awaited before the connection, like every probe connection;
* the head must arrive within ``limits.first_byte`` and each body chunk within
  ``limits.between_chunks``; header lines are capped at ``limits.max_line`` and the
  head at 64 fields; at most ``limit`` body bytes are kept (``complete`` says
  whether that was all of it);
* a failure before a response head raises ``ProbeFailure`` with the reason
  (timeout, connection-refused, connection-reset, malformed); a short or stalled
  body is *not* a failure, it is returned with ``ended`` saying why reading stopped.

It is written on aiohttp's client for now; it is the one function to swap for
porthole's own HTTP/1 codec over ``context.open_stream`` when that lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from porthole.errors import ErrorReason
from porthole.services.base import ProbeContext, ProbeFailure

if TYPE_CHECKING:
    import aiohttp

__all__ = ["HttpDocument", "http_get"]

_MAX_HEADER_FIELDS = 64
_CONNECT_SECONDS = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpDocument:
    url: str
    status: int
    reason: str | None
    server: str | None
    content_type: str | None
    body: bytes
    #: why reading the body stopped: ``eof``, ``limit`` (more was coming), ``stalled``
    #: (no byte within ``between_chunks``) or ``truncated`` (the connection ended early)
    ended: str

    @property
    def complete(self) -> bool:
        return self.ended == "eof"


def _url(context: ProbeContext, port: int, path: str) -> str:
    host = f"[{context.address}]" if ":" in context.address else context.address
    return f"http://{host}:{port}{path}"


async def http_get(context: ProbeContext, *, port: int, path: str, limit: int) -> HttpDocument:
    """GET ``path`` from the target's ``port``; keep at most ``limit`` body bytes."""
    if not path.startswith("/") or any(ch in path for ch in "\r\n "):
        raise ValueError(f"HTTP path must be an absolute path without spaces or line breaks, got {path!r}")
    # imported on first use: aiohttp's import (it builds a default TLS context) costs
    # every porthole start up to a second, and most audits never reach SEMP
    import aiohttp

    limits = context.limits
    url = _url(context, port, path)
    headers = {
        "Host": f"{context.host_header}:{port}",
        "User-Agent": f"porthole/{context.version}",
        "Accept": "application/xml, text/xml;q=0.9, */*;q=0.1",
        "Accept-Encoding": "identity",
        "Connection": "close",
    }
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_SECONDS, sock_read=limits.first_byte)
    connector = aiohttp.TCPConnector(limit=1, force_close=True, use_dns_cache=False)
    await context.pace()
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        trust_env=False,
        max_line_size=limits.max_line,
        max_field_size=limits.max_line,
        max_headers=_MAX_HEADER_FIELDS,
    ) as session:
        try:
            async with session.get(url, headers=headers, allow_redirects=False) as response:
                body, ended = await _read_body(context, response, limit)
                return HttpDocument(
                    url=url,
                    status=response.status,
                    reason=response.reason,
                    server=_clip(response.headers.get("Server")),
                    content_type=_clip(response.headers.get("Content-Type")),
                    body=body,
                    ended=ended,
                )
        except TimeoutError:
            raise ProbeFailure(ErrorReason.TIMEOUT, f"GET {path}: no HTTP response head within {limits.first_byte:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            reason = ErrorReason.CONNECTION_REFUSED if isinstance(exc.os_error, ConnectionRefusedError) else ErrorReason.CONNECTION_RESET
            raise ProbeFailure(reason, f"GET {path}: cannot connect to port {port}: {exc.os_error}") from None
        except aiohttp.ServerDisconnectedError:
            raise ProbeFailure(ErrorReason.CONNECTION_RESET, f"GET {path}: the server closed the connection without an HTTP response") from None
        except aiohttp.ClientResponseError as exc:
            # aiohttp's parser: bad status line, header line over max_line, too many fields
            raise ProbeFailure(ErrorReason.MALFORMED, f"GET {path}: not a valid HTTP response head ({exc.message})") from None
        except (aiohttp.ClientOSError, aiohttp.ClientPayloadError) as exc:
            raise ProbeFailure(ErrorReason.CONNECTION_RESET, f"GET {path}: connection failed: {exc}") from None


async def _read_body(context: ProbeContext, response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, str]:
    """At most ``limit`` bytes, reading one byte past it to tell "exactly limit" from "more"."""
    import aiohttp

    data = bytearray()
    while True:
        try:
            chunk = await context.wait(response.content.read(limit + 1 - len(data)), context.limits.between_chunks)
        except TimeoutError:
            return bytes(data), "stalled"
        except aiohttp.ClientPayloadError:
            # a body cut short against its Content-Length or chunking: keep what came
            return bytes(data), "truncated"
        if not chunk:
            return bytes(data), "eof"
        data += chunk
        if len(data) > limit:
            return bytes(data[:limit]), "limit"


def _clip(value: str | None, length: int = 256) -> str | None:
    if value is None:
        return None
    return value if len(value) <= length else value[: length - 1] + "…"
