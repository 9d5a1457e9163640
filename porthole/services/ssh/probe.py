"""The SSH probe for 22/23/24 (protocols.md §2): identification line, KEXINIT, auth methods.

Connection 1 (always), the ssh-audit/nmap ``ssh2-enum-algos`` exchange::

    server: [text lines] SSH-2.0-<software> [comments] CR LF
    porthole: SSH-2.0-porthole_<version> CR LF        (after reading the server's line)
    server: KEXINIT                                    (binary packet, no keys yet)
      ...if none within 2 s: porthole sends a client KEXINIT, waits 2 s more
    close

Connection 2 (only when connection 1 gave a KEXINIT): one key exchange and a
"none" user-authentication request, to read the offered methods
(``auth_methods.py`` documents its cost). Port 23 may carry Telnet instead of the
SSH forwarder: option negotiation bytes (``FF FB xx``, ``FF FD xx``) end the probe
with ``protocol = "telnet"``.

Every read is bounded by the codec's caps (255-byte lines, 10 preamble lines,
35000-byte packets) and by phase waits; a device that never sends an SSH line ends as
a ``ProbeFailure`` naming why, one that sends a line but no usable KEXINIT keeps its
identification as evidence with ``kexinit_error`` saying what went wrong.

Must not: send KEXDH_INIT on connection 1, authenticate, or keep connections open.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import replace
from typing import Any, ClassVar

from porthole.codecs import CodecError
from porthole.codecs import ssh as codec
from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation, Protocol
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext, ProbeFailure, close_stream
from porthole.services.ssh import assess as assess_module
from porthole.services.ssh.auth_methods import offered_auth_methods
from porthole.services.ssh.evidence import SshAlgorithms, SshEvidence

__all__ = ["SshProbe", "CLIENT_KEXINIT"]

_CIPHERS = (
    "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-cbc", "aes256-cbc", "3des-cbc",
)
_MACS = (
    "umac-128-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1", "hmac-md5",
)

#: The client KEXINIT sent only to a server that waits for one. Broad lists (what a
#: current OpenSSH client offers plus the legacy names) so that any server finds a
#: match and answers with its own KEXINIT instead of a disconnect.
CLIENT_KEXINIT = codec.KexInit(
    cookie=bytes(16),
    kex_algorithms=(
        "sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
        "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
        "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
        "diffie-hellman-group14-sha256", "diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1",
        "diffie-hellman-group1-sha1",
    ),
    server_host_key_algorithms=(
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-dss",
    ),
    encryption_algorithms_client_to_server=_CIPHERS,
    encryption_algorithms_server_to_client=_CIPHERS,
    mac_algorithms_client_to_server=_MACS,
    mac_algorithms_server_to_client=_MACS,
    compression_algorithms_client_to_server=("none", "zlib@openssh.com", "zlib"),
    compression_algorithms_server_to_client=("none", "zlib@openssh.com", "zlib"),
)

#: IGNORE/DEBUG packets tolerated before the KEXINIT (RFC 4253 §11.2, §11.3 allow them anywhere)
_MAX_SKIPPED_PACKETS = 4


class SshProbe:
    """Fingerprints SSH (and Telnet posing on the SSH forwarder ports)."""

    id: ClassVar[str] = "ssh"
    #: how long a server may take to send its KEXINIT unasked (protocols.md §2: ~2 s),
    #: and again after porthole sent its own
    kexinit_wait: ClassVar[float] = 2.0
    #: the whole second connection: connect, key exchange, method list
    auth_wait: ClassVar[float] = 4.0

    def claims(self, observation: PortObservation) -> bool:
        return observation.service == "ssh" and observation.protocol is Protocol.TCP

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        evidence = await self._gather(context)
        return to_jsonable(evidence)

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess_module.assess(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        if evidence.get("protocol") == "telnet":
            options = evidence.get("telnet_options") or []
            return "Telnet" + (f" ({', '.join(options[:4])}{', ...' if len(options) > 4 else ''})" if options else "")
        identification = evidence.get("identification")
        if not identification:
            return None
        software = identification["software_version"]
        comments = identification.get("comments")
        return f"{software}{f' {comments}' if comments else ''} (protocol {identification['protocol_version']})"

    # ------------------------------------------------------------------ exchange
    async def _gather(self, context: ProbeContext) -> SshEvidence:
        reader, writer = await context.open_stream()
        try:
            buffer = bytearray()
            identification = await self._read_identification(reader, buffer, context)
            if identification is None:
                options = tuple(str(option) for option in _telnet_options(bytes(buffer)) or ())
                return SshEvidence(protocol="telnet", telnet_options=options)
            writer.write(codec.build_identification(_software_version(context.version)))
            algorithms, kexinit_error = await self._read_kexinit(reader, writer, buffer, context)
        finally:
            await close_stream(writer)
        # A second connection only where the first showed a working SSH server: a
        # device that stalled or sent garbage would only stall again.
        auth = await offered_auth_methods(context, seconds=self.auth_wait) if algorithms is not None else None
        return SshEvidence(protocol="ssh", identification=identification, kexinit=algorithms, kexinit_error=kexinit_error, auth=auth)

    async def _read_identification(self, reader: asyncio.StreamReader, buffer: bytearray, context: ProbeContext) -> codec.Identification | None:
        """Read until the SSH- line; leave the bytes after it in ``buffer``. None: Telnet."""
        wait = context.limits.first_byte
        while True:
            if _telnet_options(bytes(buffer)):
                return None
            try:
                result = codec.parse_identification(bytes(buffer))
            except codec.LineTooLongError as exc:
                raise ProbeFailure(ErrorReason.TOO_LARGE, f"no SSH identification: {exc}; starts {_head(buffer)}") from None
            except codec.NoIdentificationError as exc:
                raise ProbeFailure(ErrorReason.UNRECOGNISED, f"no SSH identification: {exc}; starts {_head(buffer)}") from None
            except CodecError as exc:
                raise ProbeFailure(ErrorReason.MALFORMED, f"malformed SSH identification: {exc}") from None
            if result is not codec.NEED_DATA:
                consumed, identification = result
                del buffer[:consumed]
                return identification
            try:
                chunk = await context.wait(reader.read(4096), wait)
            except TimeoutError:
                raise ProbeFailure(ErrorReason.TIMEOUT, f"no complete SSH identification line within {wait:g} s" + (f" (received {len(buffer)} bytes: {_head(buffer)})" if buffer else " (nothing received)")) from None
            if not chunk:
                raise ProbeFailure(ErrorReason.UNRECOGNISED, "connection closed before an SSH identification line" + (f" (received {len(buffer)} bytes: {_head(buffer)})" if buffer else " (nothing received)"))
            buffer += chunk
            wait = context.limits.between_chunks

    async def _read_kexinit(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, buffer: bytearray, context: ProbeContext) -> tuple[SshAlgorithms | None, str | None]:
        """The server's KEXINIT, or ``(None, why not)``; sends a client KEXINIT if asked to wait."""
        solicited = False
        skipped = 0
        wait = self.kexinit_wait
        while True:
            try:
                result = codec.parse_packet(bytes(buffer))
            except CodecError as exc:
                return None, f"malformed binary packet: {exc}"
            if result is codec.NEED_DATA:
                try:
                    chunk = await context.wait(reader.read(65536), wait)
                except TimeoutError:
                    if not buffer and not solicited:
                        # Some servers wait for the client's KEXINIT (RFC 4253 §7.1 lets
                        # either side go first); offer one, as nmap always does.
                        writer.write(codec.build_packet(codec.build_kexinit(_with_cookie(CLIENT_KEXINIT)), padding=os.urandom))
                        solicited = True
                        continue
                    waited = f"{self.kexinit_wait:g} s, then {wait:g} s after porthole's own KEXINIT" if solicited else f"{wait:g} s"
                    if buffer:
                        return None, f"KEXINIT incomplete: {len(buffer)} bytes, then nothing for {wait:g} s"
                    return None, f"no KEXINIT within {waited}"
                except (ConnectionError, OSError) as exc:
                    return None, f"connection failed before KEXINIT: {exc}"
                if not chunk:
                    return None, "connection closed before KEXINIT" + (f" ({len(buffer)} bytes of a packet received)" if buffer else "")
                buffer += chunk
                wait = context.limits.between_chunks
                continue
            consumed, payload = result
            del buffer[:consumed]
            kind = payload[0]
            if kind in (codec.MSG_IGNORE, codec.MSG_DEBUG) and skipped < _MAX_SKIPPED_PACKETS:
                skipped += 1
                continue
            if kind == codec.MSG_DISCONNECT:
                try:
                    disconnect = codec.parse_disconnect(payload)
                except CodecError as exc:
                    return None, f"server disconnected before KEXINIT (unreadable reason: {exc})"
                return None, f"server disconnected before KEXINIT: reason {disconnect.reason_code}: {disconnect.description[:200]}"
            try:
                kexinit = codec.parse_kexinit(payload)
            except CodecError as exc:
                return None, f"malformed KEXINIT: {exc}"
            return _algorithms(kexinit, solicited=solicited), None


def _telnet_options(data: bytes) -> tuple[codec.TelnetOption, ...] | None:
    """Telnet negotiation, if ``data`` is convincingly that.

    One IAC triple at the start could be chance (random bytes begin with one 4 times
    in 65536); a Telnet server sends several, or one and waits for the answer. So:
    at least two triples, or nothing but complete triples.
    """
    if not codec.is_telnet_negotiation(data):
        return None
    options = codec.parse_telnet_negotiation(data)
    if len(options) >= 2 or (options and len(options) * 3 == len(data)):
        return options
    return None


def _algorithms(kexinit: codec.KexInit, *, solicited: bool) -> SshAlgorithms:
    lists = {name: getattr(kexinit, name) for name in codec.NAME_LIST_FIELDS}
    return SshAlgorithms(**lists, first_kex_packet_follows=kexinit.first_kex_packet_follows, solicited=solicited)


def _with_cookie(kexinit: codec.KexInit) -> codec.KexInit:
    return replace(kexinit, cookie=os.urandom(16))


def _software_version(version: str) -> str:
    """``porthole_<version>`` with anything RFC 4253 forbids there replaced by ``_``."""
    return "porthole_" + re.sub(r"[^!-,.-~]", "_", version or "0")


def _head(buffer: bytes | bytearray, length: int = 32) -> str:
    """The first bytes as hex, for failure details (a hostile banner is not printed)."""
    head = bytes(buffer[:length]).hex(" ")
    return head + (" ..." if len(buffer) > length else "")
