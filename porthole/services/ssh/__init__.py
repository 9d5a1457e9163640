"""SSH fingerprinting for 22/23/24: identification, KEXINIT algorithms, auth methods.

See ``probe.py`` for the exchange, ``assess.py`` for the findings and
``auth_methods.py`` for what the second connection costs the device.
"""

from porthole.services.ssh.probe import SshProbe

__all__ = ["SshProbe"]
