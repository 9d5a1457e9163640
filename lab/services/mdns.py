"""mDNS / DNS-SD responder announcing the controller's EEBUS SHIP service (python-zeroconf).

Registers ``<instance>._ship._tcp.local.`` with SRV port 4711, an A record for the
controller address and the SHIP TXT keys (protocols.md §8.1): ``txtvers=1``,
``id``, ``path=/ship/``, ``ski`` (40 hex digits), ``register``, ``brand``,
``model``, ``type``.

Legacy unicast (RFC 6762 §6.7): a plain DNS query sent to ``<address>:5353``
from an ephemeral port is answered by python-zeroconf directly to that port with
the query id echoed (``handle_assembled_query``: source port != 5353 means
unicast). Checked on loopback with a raw UDP socket in
tests/unit/lab/test_services_mdns.py. For that, zeroconf gets
``interfaces=[address]`` and IPv4 only: it then binds a listener on
0.0.0.0:5353 plus a responder socket on ``address``:5353 (which is the socket a
unicast query to that address reaches) and sends its multicast announcements
out of that interface only.

Options (JSON keys of ``--options``):

=================  ====================================================================
``address``        the controller's IPv4 address: A record and interface (default: the
                   namespace's first global IPv4 address, from ``ip -j addr``)
``instance``       service instance name (default "CC-<controller name>")
``host_name``      host label for SRV/A (default "cc-<controller name>", + ".local.")
``ship_id``        TXT ``id`` (default "ChargeCtl-CC-<controller name>")
``ski``            TXT ``ski`` as 40 hex digits; default: the SubjectKeyIdentifier of
                   the lab certificate ``cert``
``cert``           lab certificate whose SKI to advertise (default "<controller>-ship";
                   created as a self-signed ec256 certificate if missing, as SHIP
                   uses: give the 4711 ``tls`` service the same ``cert``, ``cert_key``
                   "ec256" and ``self_signed`` true so both present one key)
``ski_mismatch``   advertise the bitwise complement of the SKI: a wrong SKI that the
                   scanner must flag (default false)
``register``       TXT ``register`` true/false: auto-accept pairing (default false)
``brand``, ``model``, ``type``  free-text TXT keys (defaults "ChargeCtl", "CC-LAB", "EVSE")
``ship_port``      SRV port (default 4711)
=================  ====================================================================

``--port`` must be 5353: python-zeroconf always binds the mDNS port. ``--bind`` is
not used: the interface is chosen by ``address``.

Must not: answer for anything but its own records (zeroconf only answers what
is registered), browse, or announce on any interface but ``address``'s.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from lab.certs import CertificateKey, ensure_certificate, load_certificate, subject_key_identifier
from lab.services._common import Running, ServiceContext, namespace_addresses, run_service
from porthole.errors import LabError
from porthole.model import Protocol as Transport

__all__ = ["SHIP_SERVICE_TYPE", "MDNS_PORT", "Options", "advertised_ski", "txt_record", "serve", "main"]

log = logging.getLogger("lab.services.mdns")

SHIP_SERVICE_TYPE = "_ship._tcp.local."
MDNS_PORT = 5353
_SKI = re.compile(r"[0-9a-fA-F]{40}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    address: str | None = None
    instance: str | None = None
    host_name: str | None = None
    ship_id: str | None = None
    ski: str | None = None
    cert: str | None = None
    ski_mismatch: bool = False
    register: bool = False
    brand: str = "ChargeCtl"
    model: str = "CC-LAB"
    type: str = "EVSE"
    ship_port: int = 4711

    def __post_init__(self) -> None:
        if self.address is not None and ipaddress.ip_address(self.address).version != 4:
            raise ValueError(f"option 'address' {self.address!r} must be an IPv4 address (zeroconf runs IPv4 only here)")
        if self.ski is not None and not _SKI.fullmatch(self.ski.replace(" ", "").replace("-", "")):
            raise ValueError(f"option 'ski' {self.ski!r} must be 40 hex digits")
        if self.ski is not None and self.cert is not None:
            raise ValueError("give option 'ski' or option 'cert', not both")


def advertised_ski(options: Options, context: ServiceContext) -> str:
    """The 40 lower-case hex digits to put in TXT ``ski``."""
    if options.ski is not None:
        digest = bytes.fromhex(options.ski.replace(" ", "").replace("-", ""))
    else:
        name = options.cert or f"{context.name}-ship"
        existing = context.cert_dir / f"{name}.cert.pem"
        if (context.cert_dir / f"{name}.json").exists():
            certificate_path = existing
        else:
            certificate_path = ensure_certificate(
                context.cert_dir, name, key=CertificateKey.EC256, self_signed=True, expired=False,
                common_name=context.name,
            ).certificate
        digest = subject_key_identifier(load_certificate(certificate_path))
    if options.ski_mismatch:
        digest = bytes(byte ^ 0xFF for byte in digest)
    return digest.hex()


def txt_record(options: Options, context: ServiceContext) -> dict[str, str]:
    """The SHIP TXT keys, in the order ship-go announces them."""
    return {
        "txtvers": "1",
        "id": options.ship_id or f"ChargeCtl-CC-{context.name}",
        "path": "/ship/",
        "ski": advertised_ski(options, context),
        "register": "true" if options.register else "false",
        "brand": options.brand,
        "model": options.model,
        "type": options.type,
    }


def _controller_address(options: Options) -> ipaddress.IPv4Address:
    if options.address is not None:
        return ipaddress.IPv4Address(options.address)
    for address in namespace_addresses():
        if isinstance(address, ipaddress.IPv4Address) and not address.is_loopback:
            return address
    raise LabError("mdns: this namespace has no global IPv4 address; pass option 'address'")


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Register the SHIP service; ``ports`` must be [5353]."""
    if list(ports) != [MDNS_PORT]:
        raise LabError(f"mdns: --port must be {MDNS_PORT}/udp (python-zeroconf always binds the mDNS port)")
    address = _controller_address(options)
    host_name = options.host_name or f"cc-{context.name}"
    instance = options.instance or f"CC-{context.name}"
    info = ServiceInfo(
        SHIP_SERVICE_TYPE,
        f"{instance}.{SHIP_SERVICE_TYPE}",
        port=options.ship_port,
        properties=txt_record(options, context),
        server=f"{host_name}.local.",
        addresses=[address.packed],
    )
    zeroconf = AsyncZeroconf(interfaces=[str(address)], ip_version=IPVersion.V4Only)
    try:
        await zeroconf.async_register_service(info)
    except BaseException:
        await zeroconf.async_close()
        raise
    log.info("announced %s at %s:%d", info.name, address, options.ship_port)

    async def close() -> None:
        await zeroconf.async_unregister_all_services()
        await zeroconf.async_close()

    return Running(ports=[MDNS_PORT], close=close)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="mdns", transport=Transport.UDP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
