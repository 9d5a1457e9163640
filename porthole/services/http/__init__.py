"""Web UI probe for 80/81/82 (plain HTTP) and 443/444/445 (HTTPS): see ``probe.py``."""

from porthole.services.http.probe import HttpProbe

__all__ = ["HttpProbe"]
