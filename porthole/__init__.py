"""porthole: audit the network exposure of EV charge controllers.

The package is layered (see README, "Architecture"):

    catalog/   the documented port set, as data
    codecs/    sans-IO wire formats (no sockets, no asyncio)
    net/       the only code that touches sockets
    engine/    concurrency, deadlines, rate limits, discovery
    services/  one package per fingerprinted service
    profiles   expected exposure per controller role, and the diff
    report/    the versioned report model, JSON schema and renderers
    cli/       argument parsing and presentation only
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
