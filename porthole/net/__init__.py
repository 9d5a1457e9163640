"""The only code that touches sockets.

Nothing here decides deadlines: callers wrap each call in ``asyncio.timeout`` (trio's
rule). Functions report what the network said (connected, refused, ICMP...) as values;
mapping that to port states is the engine's job.
"""
