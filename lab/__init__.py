"""The porthole lab: a simulated charger site for demos, integration tests and benchmarks.

``lab.site`` loads site files, ``lab.netns`` builds namespaces and links,
``lab.daemons`` prepares each service's process, ``lab.control`` runs the
up / down / status lifecycle, ``lab.services`` holds the protocol emulators.
Run it with ``python -m lab up|down|status [--site FILE]`` (see lab/README.md).
Nothing here is imported by the ``porthole`` package itself.
"""
