"""A real TLS server (stdlib ``ssl`` over asyncio) for 443/444/445, 1600/1601, 4711, 15120.

Not an emulator: OpenSSL does every handshake, so porthole's hand-built
ClientHellos are checked against an independent implementation.

Options (JSON keys of ``--options``):

=======================  ==========================================================
``versions``             list of "1.0", "1.1", "1.2", "1.3" (default ["1.2", "1.3"]);
                         gaps are honoured (["1.0", "1.2"] refuses 1.1)
``ciphers``              OpenSSL cipher string for TLS <= 1.2 (default: OpenSSL's);
                         TLS 1.3 suites cannot be restricted from Python (cpython #77751)
``cert``                 certificate name; the same name gives the same certificate to
                         every service of the site (default: the controller name, so a
                         controller's 443 and 444 match)
``cert_key``             "rsa2048" (default), "rsa1024" or "ec256"
``self_signed``          true (default) or false = signed by the lab CA
``expired``              validity ended 30 days ago (default false)
``common_name``          subject CN (default: the controller name)
``san_ips``              list of IP addresses for the subjectAltName (default [])
``require_client_cert``  CERT_REQUIRED with the lab CA as the only trust anchor
``http``                 after the handshake answer one HTTP/1.1 GET with a small page
                         (default false: hold the connection until the client's EOF)
``hsts``                 with ``http``: send Strict-Transport-Security (default false)
=======================  ==========================================================

TLS 1.0 and 1.1 on Debian 12's OpenSSL 3.0: they work with the stdlib once the
context has ``minimum_version = TLSv1`` *and* the cipher string carries
``@SECLEVEL=0`` (at level 1 and above OpenSSL 3 forbids the SHA-1/MD5 handshake
signatures those versions need; checked with a stdlib client on loopback, see
tests/unit/lab/test_services_tls.py). An rsa1024 key likewise needs a level <= 1.
This module appends ``@SECLEVEL=0`` itself in both cases unless ``ciphers``
already names a level.

Must not: speak anything but TLS and that one tiny HTTP answer; keep no state.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from lab.certs import CertificateKey, ensure_certificate
from lab.services._common import Running, ServiceContext, TcpListeners, run_service
from porthole.errors import LabError
from porthole.model import Protocol as Transport

__all__ = ["TlsVersion", "Options", "TlsConnection", "build_server_context", "serve", "main"]

log = logging.getLogger("lab.services.tls")

_HANDSHAKE_TIMEOUT_SECONDS = 10.0
_REQUEST_TIMEOUT_SECONDS = 10.0
_MAXIMUM_REQUEST_HEAD = 16 * 1024
_READ_CHUNK = 4096


class TlsVersion(StrEnum):
    TLS_1_0 = "1.0"
    TLS_1_1 = "1.1"
    TLS_1_2 = "1.2"
    TLS_1_3 = "1.3"


# ordered oldest first; the ssl.TLSVersion names for 1.0/1.1 warn on access (deprecated)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    _STDLIB_VERSION = {
        TlsVersion.TLS_1_0: ssl.TLSVersion.TLSv1,
        TlsVersion.TLS_1_1: ssl.TLSVersion.TLSv1_1,
        TlsVersion.TLS_1_2: ssl.TLSVersion.TLSv1_2,
        TlsVersion.TLS_1_3: ssl.TLSVersion.TLSv1_3,
    }
    _DISABLE_FLAG = {
        TlsVersion.TLS_1_0: ssl.OP_NO_TLSv1,
        TlsVersion.TLS_1_1: ssl.OP_NO_TLSv1_1,
        TlsVersion.TLS_1_2: ssl.OP_NO_TLSv1_2,
        TlsVersion.TLS_1_3: ssl.OP_NO_TLSv1_3,
    }
_ORDER = list(TlsVersion)


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    versions: tuple[TlsVersion, ...] = (TlsVersion.TLS_1_2, TlsVersion.TLS_1_3)
    ciphers: str | None = None
    cert: str | None = None
    cert_key: CertificateKey = CertificateKey.RSA2048
    self_signed: bool = True
    expired: bool = False
    common_name: str | None = None
    san_ips: tuple[str, ...] = ()
    require_client_cert: bool = False
    http: bool = False
    hsts: bool = False

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError("option 'versions' must name at least one of 1.0, 1.1, 1.2, 1.3")


def build_server_context(options: Options, context: ServiceContext) -> ssl.SSLContext:
    """The server's ``SSLContext``, with the certificate made (or reused) under ``context.cert_dir``."""
    paths = ensure_certificate(
        context.cert_dir,
        options.cert or context.name,
        key=options.cert_key,
        self_signed=options.self_signed,
        expired=options.expired,
        common_name=options.common_name or context.name,
        san_ips=options.san_ips,
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    wanted = sorted(set(options.versions), key=_ORDER.index)
    needs_level_zero = wanted[0] in (TlsVersion.TLS_1_0, TlsVersion.TLS_1_1) or (
        options.cert_key is CertificateKey.RSA1024
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server_context.minimum_version = _STDLIB_VERSION[wanted[0]]
        server_context.maximum_version = _STDLIB_VERSION[wanted[-1]]
        # a gap such as ["1.0", "1.2"]: min/max alone would allow 1.1
        for version in _ORDER[_ORDER.index(wanted[0]) : _ORDER.index(wanted[-1]) + 1]:
            if version not in wanted:
                server_context.options |= _DISABLE_FLAG[version]
    cipher_string = options.ciphers or "DEFAULT"
    if needs_level_zero and "@SECLEVEL" not in cipher_string.upper():
        cipher_string += ":@SECLEVEL=0"
    try:
        server_context.set_ciphers(cipher_string)
    except ssl.SSLError as exc:
        raise LabError(f"tls: OpenSSL rejects the cipher string {cipher_string!r}: {exc}") from None
    try:
        server_context.load_cert_chain(paths.chain, paths.private_key)
    except ssl.SSLError as exc:
        raise LabError(
            f"tls: OpenSSL refuses certificate {paths.certificate} at this security level ({exc}); "
            "add @SECLEVEL=0 to `ciphers`"
        ) from None
    if options.require_client_cert:
        server_context.verify_mode = ssl.CERT_REQUIRED
        server_context.load_verify_locations(cafile=paths.ca_certificate)
    return server_context


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Listen with TLS on every port of ``ports`` (0 = any)."""
    server_context = build_server_context(options, context)

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = TlsConnection(reader, writer, server_context)
        try:
            async with asyncio.timeout(_HANDSHAKE_TIMEOUT_SECONDS):
                await connection.handshake()
        except ssl.SSLError as exc:
            # the alert OpenSSL produced has been sent; the caller closes with FIN
            log.info("handshake from %s failed: %s", writer.get_extra_info("peername"), getattr(exc, "reason", None) or exc)
            return
        if options.http:
            await _answer_http(connection, options)
        else:
            await _hold_until_eof(connection)
        await connection.close()

    listeners = TcpListeners(on_connection, logger=log)
    await listeners.start(bind, ports)
    return Running(ports=listeners.ports, close=listeners.close)


class TlsConnection:
    """Server-side TLS over an asyncio stream, driven through ``ssl.MemoryBIO``.

    Why not ``asyncio.start_server(ssl=...)``: when a handshake fails, asyncio's
    SSL transport drops the alert OpenSSL wrote and resets the connection, while a
    real server (OpenSSL ``s_server``, embedded stacks) sends the fatal alert
    (protocol_version, handshake_failure, certificate_required...). porthole
    reads those alerts, so the lab must send them; pumping the BIOs by hand does.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, context: ssl.SSLContext) -> None:
        self._reader = reader
        self._writer = writer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)

    @property
    def ssl_object(self) -> ssl.SSLObject:
        return self._ssl

    async def handshake(self) -> None:
        """Complete the handshake; on failure the alert is flushed, then ``SSLError`` is raised."""
        while True:
            try:
                self._ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._receive():
                    raise ssl.SSLEOFError(ssl.SSL_ERROR_EOF, "client closed during the handshake") from None
            except ssl.SSLError:
                await self._flush()
                raise
        # TLS 1.3 session tickets (and the last 1.2 flight) are waiting in the BIO
        await self._flush()

    async def read(self, size: int = _READ_CHUNK) -> bytes:
        """Up to ``size`` bytes of application data; b"" at close_notify or TCP EOF."""
        while True:
            try:
                return self._ssl.read(size)
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._receive():
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            except ssl.SSLError:
                # e.g. TLS 1.3 client certificate rejected after the handshake: alert out, done
                await self._flush()
                raise

    async def write(self, data: bytes) -> None:
        self._ssl.write(data)
        await self._flush()

    async def close(self) -> None:
        """Send close_notify (best effort); the TCP close is the caller's."""
        try:
            self._ssl.unwrap()
        except ssl.SSLError:
            pass
        await self._flush()

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._writer.write(data)
            await self._writer.drain()

    async def _receive(self) -> bool:
        data = await self._reader.read(16 * 1024)
        if not data:
            self._incoming.write_eof()
            return False
        self._incoming.write(data)
        return True


async def _hold_until_eof(connection: TlsConnection) -> None:
    # Say nothing, discard what arrives, close when the client does: what a TLS
    # port with an unknown inner protocol (1600/1601) looks like to a scanner.
    while await connection.read():
        pass


async def _answer_http(connection: TlsConnection, options: Options) -> None:
    head = b""
    async with asyncio.timeout(_REQUEST_TIMEOUT_SECONDS):
        while b"\r\n\r\n" not in head:
            chunk = await connection.read()
            if not chunk:
                return
            head += chunk
            if len(head) > _MAXIMUM_REQUEST_HEAD:
                return
    method = head.split(b" ", 1)[0]
    if method == b"GET":
        status, body = "200 OK", _PAGE
    else:
        status, body = "405 Method Not Allowed", b"<html><body><h1>405 Method Not Allowed</h1></body></html>\n"
    headers = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/html; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if options.hsts:
        headers.append("Strict-Transport-Security: max-age=31536000")
    if status.startswith("405"):
        headers.append("Allow: GET")
    await connection.write(("\r\n".join(headers) + "\r\n\r\n").encode("ascii") + body)


_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Charge Controller</title></head>\n"
    b"<body><h1>Charge Controller</h1><p>Secure web interface.</p></body></html>\n"
)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="tls", transport=Transport.TCP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
