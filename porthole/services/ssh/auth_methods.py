"""Which user-authentication methods an SSH server offers, learned without any credential.

RFC 4252 §5.2: a client may request the method "none"; a server that refuses it
answers SSH_MSG_USERAUTH_FAILURE with the list of methods that "can continue"
(``publickey,password``...). That list is the only way to see from the network
whether password logins are on, and asking for it never sends a password.

The question needs an encrypted transport, so it costs the device what any client
costs: **one full key exchange** (a DH/ECDH computation and a host-key signature) on
a **second, separate connection**, opened through the engine's pacing after the
KEXINIT connection is closed. paramiko does the key exchange; its ``auth_none`` with
a fixed harmless user name (``porthole-probe``) raises ``BadAuthenticationType``
carrying the list. Then the connection is closed: no session, no channel, no
password, no key.

paramiko is blocking and threaded, so the exchange runs in a worker thread
(``asyncio.to_thread``) under a phase wait; on timeout or cancellation the transport
and socket are closed from here, which ends paramiko's thread within its 0.1 s poll.

Must not: try a password or key, open a channel, or keep the connection open.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TYPE_CHECKING

from porthole.net.tcp import close_gently, open_probe
from porthole.services.base import ProbeContext
from porthole.services.ssh.evidence import SshAuthMethods

if TYPE_CHECKING:
    import paramiko

__all__ = ["PROBE_USERNAME", "offered_auth_methods"]

#: a user name no controller has: the server answers for it exactly as for a real one
#: (OpenSSH fakes the method list for unknown users to avoid user enumeration)
PROBE_USERNAME = "porthole-probe"
#: more methods than this is not a real server's list
_MAX_METHODS = 16

# paramiko logs every failed negotiation as an ERROR of its own; porthole records the
# failure in the evidence (``auth.error``), so the log line would only repeat it, in
# alarming words, on the auditor's terminal.
_PARAMIKO_LOG_CHANNEL = "porthole.services.ssh.paramiko"
logging.getLogger(_PARAMIKO_LOG_CHANNEL).setLevel(logging.CRITICAL)


async def offered_auth_methods(context: ProbeContext, *, seconds: float, username: str = PROBE_USERNAME) -> SshAuthMethods:
    """Connect once more (paced), run one key exchange and ask for "none" as ``username``.

    Never raises for what the device does: a refused connection, a failed key
    exchange or silence become ``SshAuthMethods(methods=None, error=...)``.
    """
    # Imported here, not at module level: paramiko pulls in most of cryptography and
    # costs every porthole start (even `--help`) a noticeable fraction of a second,
    # while only hosts with a working SSH server need it. The first import runs in a
    # worker thread so it does not stall the other probes' reads on the event loop.
    await asyncio.to_thread(importlib.import_module, "paramiko")
    await context.pace()
    try:
        outcome, sock = await context.wait(open_probe(context.address, context.port), seconds)
    except TimeoutError:
        return SshAuthMethods(username=username, methods=None, error=f"second connection not accepted within {seconds:g} s")
    if sock is None:
        return SshAuthMethods(username=username, methods=None, error=f"second connection {outcome.result.value}{f': {outcome.detail}' if outcome.detail else ''}")
    import paramiko

    sock.setblocking(True)
    transport = paramiko.Transport(sock)
    transport.set_log_channel(_PARAMIKO_LOG_CHANNEL)
    try:
        return await context.wait(asyncio.to_thread(_ask_for_methods, transport, username, seconds), seconds)
    except TimeoutError:
        return SshAuthMethods(username=username, methods=None, error=f"key exchange and method list not completed within {seconds:g} s")
    finally:
        # close() stops paramiko's reader thread (it polls every 0.1 s); the socket is
        # closed separately because close() does nothing before start_client ran.
        transport.close()
        close_gently(sock)
        if transport.is_alive():
            # its next poll sees the closed socket; wait for that so no thread outlives the probe
            await asyncio.to_thread(transport.join, 1.0)


def _ask_for_methods(transport: paramiko.Transport, username: str, seconds: float) -> SshAuthMethods:
    """Blocking half, run in a worker thread."""
    import paramiko

    transport.banner_timeout = seconds
    transport.handshake_timeout = seconds
    transport.auth_timeout = seconds
    try:
        transport.start_client(timeout=seconds)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        return SshAuthMethods(username=username, methods=None, error=f"key exchange failed: {_describe(exc)}")
    try:
        remaining = transport.auth_none(username)
    except paramiko.BadAuthenticationType as exc:
        return SshAuthMethods(username=username, methods=_clean(exc.allowed_types))
    except (paramiko.SSHException, EOFError, OSError) as exc:
        return SshAuthMethods(username=username, methods=None, error=f"no method list after the key exchange: {_describe(exc)}")
    if not remaining:
        # "none" succeeded outright: the server lets anyone in with no credential.
        return SshAuthMethods(username=username, methods=("none",), none_accepted=True)
    # partial success: "none" passed as a first factor, these must follow
    return SshAuthMethods(username=username, methods=_clean(remaining))


def _clean(methods: list[str]) -> tuple[str, ...]:
    """The server's list, bounded and printable (it is device-controlled text)."""
    cleaned = []
    for method in methods[:_MAX_METHODS]:
        text = str(method)
        cleaned.append(text if text.isascii() and text.isprintable() else ascii(text))
    return tuple(cleaned)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."

