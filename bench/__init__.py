"""porthole's benchmarks: speed and memory as ratios against nmap, measured in one run.

``python -m bench.sweep`` (``make bench``) brings up ``bench/site.toml`` in network
namespaces, sweeps its /24 with porthole and with nmap on the same ports, and prints
time, peak RSS and open-port recall side by side (see bench/README.md).

Benchmarks live here and never in tests/: a timed assertion in a test suite fails on
a slow CI machine and proves nothing on a fast one, while a ratio taken in one run on
one machine compares like with like. Nothing in the ``porthole`` package imports
this package.
"""
