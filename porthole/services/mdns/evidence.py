"""What the target's mDNS responder (5353/udp) answered to legacy-unicast DNS-SD queries."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ShipInstance", "MdnsEvidence"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipInstance:
    """One ``_ship._tcp`` instance: its SRV, its host's addresses and its SHIP TXT keys."""

    #: the instance name as announced (``dns.read_name`` presentation form)
    name: str
    #: SRV target host and port; None when no SRV record came
    host: str | None = None
    port: int | None = None
    #: A/AAAA addresses of ``host`` that came with the answers
    addresses: tuple[str, ...] = ()
    txtvers: str | None = None
    id: str | None = None
    path: str | None = None
    #: normalised (spaces and "-" removed, lower case)
    ski: str | None = None
    #: ``ski`` is 40 hex digits
    ski_valid: bool = False
    register: bool | None = None
    register_raw: str | None = None
    brand: str | None = None
    model: str | None = None
    type: str | None = None
    serial: str | None = None
    cat: str | None = None
    #: TXT keys SHIP does not define, as announced
    other_txt: dict[str, str | None] = field(default_factory=dict)
    #: no TXT record came for this instance (neither with the PTR answer nor when asked)
    txt_missing: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MdnsEvidence:
    #: legacy-unicast queries sent (each one datagram)
    queries_sent: int
    #: service types from ``_services._dns-sd._udp.local. PTR`` (at most MAX_SERVICE_TYPES)
    service_types: tuple[str, ...]
    service_types_total: int
    #: ``_ship._tcp`` instances looked at (at most MAX_SHIP_INSTANCES)
    ship_instances: tuple[ShipInstance, ...]
    ship_instances_total: int
    #: queries that got no reply ("_services._dns-sd._udp.local. PTR")
    unanswered: tuple[str, ...] = ()
