"""One client TLS handshake driven through ``ssl.MemoryBIO``, with the server's bytes kept.

Why memory BIOs rather than ``open_connection(ssl=...)``: when a handshake fails,
``ssl`` says only "sslv3 alert handshake failure" and hides everything the server
sent (its certificate, whether it asked for ours). Pumping the BIOs by hand lets the
probe keep every byte the server sent, so the plaintext TLS 1.2 flight can be parsed
afterwards (``porthole.codecs.tls_flight``) whatever the outcome.

Contract: one handshake on a stream the caller opened (through the engine's paced
``open_stream``); every read bounded in size (``limit``) and time (``first_byte``
after each flight we send, ``between_chunks`` otherwise); never sends application
data; on success it sends close_notify. The caller closes the stream.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["HandshakeEnd", "HandshakeTranscript", "client_handshake"]

_READ_CHUNK = 16 * 1024


class HandshakeEnd(StrEnum):
    COMPLETED = "completed"
    #: the local TLS library raised (typically on the server's fatal alert)
    TLS_ERROR = "tls-error"
    #: the server closed the connection (FIN) mid-handshake
    EOF = "eof"
    #: the server reset the connection mid-handshake
    RESET = "reset"
    STALLED = "stalled"
    #: the server sent more than the read limit
    LIMIT = "limit"


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeTranscript:
    end: HandshakeEnd
    #: every byte the server sent, in order (at most the limit)
    server_bytes: bytes
    #: the local TLS library's error text, when it raised
    error: str | None = None
    #: ``SSLObject.version()`` / ``.cipher()[0]`` after a completed handshake
    version: str | None = None
    cipher: str | None = None


async def client_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    tls_context: ssl.SSLContext,
    *,
    limit: int,
    first_byte: float,
    between_chunks: float,
) -> HandshakeTranscript:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls_context.wrap_bio(incoming, outgoing, server_side=False)
    received = bytearray()

    def transcript(end: HandshakeEnd, error: str | None = None) -> HandshakeTranscript:
        return HandshakeTranscript(end=end, server_bytes=bytes(received), error=error)

    wait = first_byte
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            try:
                if await _flush(outgoing, writer):
                    wait = first_byte  # we just sent a flight: the server may take its time
            except ConnectionError as exc:
                return transcript(HandshakeEnd.RESET, str(exc) or type(exc).__name__)
            if len(received) >= limit:
                return transcript(HandshakeEnd.LIMIT)
            try:
                async with asyncio.timeout(wait):
                    chunk = await reader.read(min(_READ_CHUNK, limit - len(received)))
            except TimeoutError:
                return transcript(HandshakeEnd.STALLED)
            except ConnectionError as exc:
                return transcript(HandshakeEnd.RESET, str(exc) or type(exc).__name__)
            wait = between_chunks
            if not chunk:
                # Let OpenSSL see the EOF too: it may still process an alert received
                # just before it, and it raises SSLEOFError otherwise.
                incoming.write_eof()
                try:
                    tls.do_handshake()
                except ssl.SSLError as exc:
                    if isinstance(exc, ssl.SSLEOFError):
                        return transcript(HandshakeEnd.EOF, _describe(exc))
                    return transcript(HandshakeEnd.TLS_ERROR, _describe(exc))
                break
            received += chunk
            incoming.write(chunk)
        except ssl.SSLError as exc:
            # OpenSSL may have queued an alert for the server; send it, best effort.
            try:
                await _flush(outgoing, writer)
            except OSError:
                pass
            return transcript(HandshakeEnd.TLS_ERROR, _describe(exc))
    cipher = tls.cipher()
    result = HandshakeTranscript(
        end=HandshakeEnd.COMPLETED,
        server_bytes=bytes(received),
        version=tls.version(),
        cipher=cipher[0] if cipher else None,
    )
    # close_notify, then the caller closes TCP: a polite goodbye to a fragile stack.
    try:
        tls.unwrap()
    except ssl.SSLError:
        pass
    try:
        await _flush(outgoing, writer)
    except OSError:
        pass
    return result


async def _flush(outgoing: ssl.MemoryBIO, writer: asyncio.StreamWriter) -> bool:
    data = outgoing.read()
    if not data:
        return False
    writer.write(data)
    await writer.drain()
    return True


def _describe(exc: ssl.SSLError) -> str:
    return exc.reason or exc.strerror or str(exc)
