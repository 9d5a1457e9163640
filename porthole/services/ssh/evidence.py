"""What the SSH probe observed on one port: facts only, no judgements.

``SshEvidence`` is converted with ``porthole.jsonable.to_jsonable`` into the
dict the probe returns (tuples become lists). ``assess`` reads that dict.

    protocol        "ssh", or "telnet" when the port opened with Telnet negotiation
    identification  the server's SSH- line, split (None for telnet)
    kexinit         the ten algorithm lists of the server's KEXINIT, or None with
                    kexinit_error saying why (stall, bogus packet, disconnect)
    auth            the user-authentication methods offered (second connection)
"""

from __future__ import annotations

from dataclasses import dataclass

from porthole.codecs.ssh import Identification

__all__ = ["SshEvidence", "SshAlgorithms", "SshAuthMethods"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SshAlgorithms:
    """The server's KEXINIT name-lists, in its order of preference (RFC 4253 §7.1)."""

    kex_algorithms: tuple[str, ...]
    server_host_key_algorithms: tuple[str, ...]
    encryption_algorithms_client_to_server: tuple[str, ...]
    encryption_algorithms_server_to_client: tuple[str, ...]
    mac_algorithms_client_to_server: tuple[str, ...]
    mac_algorithms_server_to_client: tuple[str, ...]
    compression_algorithms_client_to_server: tuple[str, ...]
    compression_algorithms_server_to_client: tuple[str, ...]
    languages_client_to_server: tuple[str, ...]
    languages_server_to_client: tuple[str, ...]
    first_kex_packet_follows: bool
    #: True when the server only sent its KEXINIT after porthole sent one first
    solicited: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SshAuthMethods:
    """Methods the server lists after a refused "none" authentication (RFC 4252 §5.2).

    Learned on a second connection that completes one key exchange and asks for
    "none" as ``username``; no password or key is ever offered.
    """

    username: str
    #: e.g. ("publickey", "password"); None when it could not be learned (see error)
    methods: tuple[str, ...] | None
    #: the server accepted "none": it lets anyone in without credentials
    none_accepted: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SshEvidence:
    protocol: str
    #: the codec's parsed line as it is (all printable text, no bytes)
    identification: Identification | None = None
    kexinit: SshAlgorithms | None = None
    kexinit_error: str | None = None
    auth: SshAuthMethods | None = None
    #: Telnet option negotiations seen instead of an SSH line ("WILL ECHO")
    telnet_options: tuple[str, ...] = ()
