"""The lab's service emulators: one module per kind, each runnable as a process.

``lab.control`` starts every service of a controller as
``python -m lab.services.<kind> --bind ... --port ... --options '<json>' --state-dir ... --name ...``
inside that controller's network namespace; tests start the same services
in-process with ``await lab.services.<kind>.serve(bind, ports, Options(...), context=...)``
on 127.0.0.1 port 0. ``_common`` holds the shared command line, option checking
and signal handling; each module's docstring documents its options.

Real server software is used wherever it exists (stdlib ``ssl``/OpenSSL, pymodbus,
python-zeroconf, aiohttp); the rest are small emulators of wire behaviour only.

=========  =====  ==================================================================
kind       ports  what it is
=========  =====  ==================================================================
http       tcp    web UI on 80/81/82 (aiohttp.web): redirect, login form/Basic, legacy UI
tls        tcp    real TLS server (stdlib ssl) for 443/444/445, 1600/1601, 4711, 15120
modbus     tcp    real pymodbus TCP server on 502 with the controller's register map
semp       tcp    SEMP gateway on 8888 (aiohttp.web): Device2EM XML, UPnP description
ssdp       udp    SSDP M-SEARCH responder on 1900 for the SEMP gateway
sdp        udp    ISO 15118 SECC Discovery responder on 15118
v2g        tcp    silent V2GTP listener on 15119 that drops malformed headers
ocpps      tcp    OCPP-S SOAP 1.2 endpoint on 8090 that answers with Faults only
mdns       udp    python-zeroconf announcing ``_ship._tcp`` (EEBUS SHIP) on 5353
forward    tcp    TCP forwarder for 81/82/444/445/23/24 to a peer controller
fragile    tcp    a card that hangs (goes silent via nftables) under too many connections
hostile    both   a peer that misbehaves on purpose: 10 MB banners, stalls, garbage, XML bomb...
=========  =====  ==================================================================
"""

__all__ = ["KINDS"]

#: every service kind this package provides (module names under ``lab.services``)
KINDS = ("http", "tls", "modbus", "semp", "ssdp", "sdp", "v2g", "ocpps", "mdns", "forward", "fragile", "hostile")
