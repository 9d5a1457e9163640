"""What every lab service module shares: options, the command line, signals, logging.

Each module ``lab.services.<kind>`` is started by the orchestrator as its own
process inside a controller's network namespace::

    python -m lab.services.<kind> --bind 0.0.0.0 --port 80 [--port 1900/udp ...] \\
        --options '<json object>' --state-dir <dir> --name <controller-name>

and offers the same service in-process for tests through
``async def serve(bind, ports, options, *, context) -> Running``.

Contract:

* ``--options`` is parsed into the module's frozen ``Options`` dataclass by
  :func:`options_from_mapping`. An unknown key or a value of the wrong type is a
  ``LabError`` naming the key and the kind, so a typo in a site file fails loudly
  instead of silently serving defaults.
* :func:`run_service` turns SIGTERM and SIGINT into a clean shutdown (exit 0) and
  SIGHUP into ``Running.hangup()`` when the service defines one. Exit status 2 is a
  usage error (bad option, bad port), 1 a start-up failure (port in use...).
* Logs go to stderr only; nothing is printed.
* This module opens no socket itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import ipaddress
import json
import logging
import signal
import subprocess
import sys
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web

from porthole.errors import LabError
from porthole.model import Protocol as Transport

__all__ = [
    "ServiceContext",
    "Running",
    "TcpListeners",
    "serve_web_application",
    "ConnectionHandler",
    "ServeFunction",
    "options_from_mapping",
    "parse_port_argument",
    "namespace_addresses",
    "run_service",
]

log = logging.getLogger("lab.services")

OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceContext:
    """Where a service keeps its files and which controller it belongs to."""

    #: this service's own state directory (``--state-dir``)
    state_dir: Path
    #: the controller's name (``--name``), used for defaults such as the certificate name
    name: str

    @property
    def cert_dir(self) -> Path:
        """Certificates shared by every controller of the site: ``<state-dir>/../certs``.

        Shared on purpose: the master's 444 and the slave's 444 (which forwards to
        the master's 443) must present the very same certificate.
        """
        return self.state_dir.parent / "certs"


class Running:
    """A started service: the ports it really bound and how to stop it."""

    __slots__ = ("ports", "_close", "_hangup", "_closed")

    def __init__(
        self,
        *,
        ports: Sequence[int],
        close: Callable[[], Awaitable[None]],
        hangup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        #: the bound port numbers, in the order they were asked for (port 0 resolved)
        self.ports: tuple[int, ...] = tuple(ports)
        self._close = close
        self._hangup = hangup
        self._closed = False

    async def close(self) -> None:
        """Stop serving and release every socket; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._close()

    async def hangup(self) -> None:
        """React to SIGHUP (only ``fragile`` uses it: recover from a hang)."""
        if self._hangup is None:
            log.info("SIGHUP ignored: this service has nothing to reload")
            return
        await self._hangup()

    async def __aenter__(self) -> Running:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


ConnectionHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class TcpListeners:
    """asyncio TCP servers on several ports sharing one connection handler.

    Every connection runs in its own task, is closed when the handler returns or
    fails, and is cancelled by :meth:`drop_connections` / :meth:`close`: no
    connection outlives the service. Ordinary network endings (EOF, reset,
    timeout, a failed TLS handshake) are logged at debug level; anything else is a
    bug in the handler and logged with its traceback, without stopping the server.
    """

    def __init__(self, handler: ConnectionHandler, *, logger: logging.Logger) -> None:
        self._handler = handler
        self._log = logger
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def ports(self) -> list[int]:
        return [server.sockets[0].getsockname()[1] for server in self._servers]

    async def start(self, bind: str, ports: Sequence[int], **server_options: Any) -> None:
        """Listen on each port (0 = any); ``server_options`` go to ``asyncio.start_server``."""
        try:
            for port in ports:
                self._servers.append(await asyncio.start_server(self._on_connection, bind, port, **server_options))
        except BaseException:
            await self.close()
            raise

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._handler(reader, writer)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
            self._log.debug("connection from %s ended: %r", peer, exc)
        except Exception:
            self._log.exception("connection handler failed for %s", peer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def drop_connections(self) -> None:
        """Close every open connection (the listeners stay)."""
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        await self.drop_connections()
        for server in self._servers:
            await server.wait_closed()


async def serve_web_application(
    application: web.Application, bind: str, ports: Sequence[int], *, logger: logging.Logger
) -> Running:
    """Run an ``aiohttp.web`` application on every port of ``ports`` (0 = any)."""
    runner = web.AppRunner(application, access_log=logger)
    await runner.setup()
    bound = []
    try:
        for port in ports:
            site = web.TCPSite(runner, bind, port)
            await site.start()
            # runner.addresses grows by one entry per started site, with the real port
            bound.append(runner.addresses[-1][1])
    except BaseException:
        await runner.cleanup()
        raise
    return Running(ports=bound, close=runner.cleanup)


class ServeFunction(Protocol[OptionsT]):
    def __call__(
        self, bind: str, ports: Sequence[int], options: OptionsT, *, context: ServiceContext
    ) -> Awaitable[Running]: ...


# --- options -------------------------------------------------------------------------


def options_from_mapping(options_type: type[OptionsT], raw: Mapping[str, Any], *, kind: str) -> OptionsT:
    """Build ``options_type`` (a dataclass) from decoded JSON, strictly.

    Supported field types: ``bool``, ``int``, ``float``, ``str``, ``StrEnum``
    subclasses, ``tuple[X, ...]`` (given as a JSON list) and ``X | None``.
    """
    if not isinstance(raw, Mapping):
        raise LabError(f"{kind}: --options must be a JSON object such as {{\"key\": value}}, got {type(raw).__name__}")
    known = {field.name for field in fields(options_type)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - known)
    if unknown:
        raise LabError(
            f"{kind}: unknown option {unknown[0]!r}"
            + (f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else "")
            + f"; known options: {', '.join(sorted(known))}"
        )
    hints = typing.get_type_hints(options_type)
    values = {key: _convert(value, hints[key], f"{kind}: option {key!r}") for key, value in raw.items()}
    try:
        return options_type(**values)
    except (TypeError, ValueError) as exc:
        # a missing required option, or a dataclass __post_init__ check
        raise LabError(f"{kind}: {exc}") from None


def _convert(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        if value is None and type(None) in members:
            return None
        errors = []
        for member in members:
            if member is type(None):
                continue
            try:
                return _convert(value, member, where)
            except LabError as exc:
                errors.append(str(exc))
        raise LabError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {annotation}")
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise LabError(f"{where}: expected a list, got {value!r}")
        return tuple(_convert(item, item_type, f"{where}[{index}]") for index, item in enumerate(value))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        try:
            return annotation(value)
        except ValueError:
            allowed = ", ".join(repr(member.value) for member in annotation)
            raise LabError(f"{where}: {value!r} is not one of {allowed}") from None
    if annotation is bool:
        if not isinstance(value, bool):
            raise LabError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        # bool is an int in Python, never in a site file
        if isinstance(value, bool) or not isinstance(value, int):
            raise LabError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LabError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise LabError(f"{where}: expected a string, got {value!r}")
        return value
    raise LabError(f"{where}: unsupported option type {annotation!r} (lab bug)")


# --- ports and addresses ---------------------------------------------------------------


def parse_port_argument(text: str) -> tuple[int, Transport]:
    """``"80"`` or ``"80/tcp"`` → (80, TCP); ``"1900/udp"`` → (1900, UDP)."""
    number_text, _, transport_text = text.partition("/")
    try:
        transport = Transport(transport_text.lower() or "tcp")
        number = int(number_text)
    except ValueError:
        raise LabError(f"--port {text!r}: expected N, N/tcp or N/udp with 0 <= N <= 65535") from None
    if not 0 <= number <= 65535:
        raise LabError(f"--port {text!r}: port number out of range 0..65535")
    return number, transport


def namespace_addresses() -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Global-scope addresses of this network namespace, IPv4 first (via ``ip -j addr``).

    Used as the fallback for "the controller's address" when a service bound to
    0.0.0.0 needs to name itself (mDNS A record) and no option says it.
    """
    try:
        completed = subprocess.run(
            ["ip", "-j", "addr", "show", "scope", "global"], capture_output=True, text=True, timeout=5, check=True
        )
        interfaces = json.loads(completed.stdout or "[]")
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        raise LabError(f"cannot list this namespace's addresses with `ip -j addr`: {exc}") from None
    found = [
        ipaddress.ip_address(entry["local"])
        for interface in interfaces
        for entry in interface.get("addr_info", [])
        if "local" in entry
    ]
    return sorted(found, key=lambda address: address.version)


# --- process entry point ---------------------------------------------------------------


def _argument_parser(kind: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m lab.services.{kind}", description=f"lab {kind} service")
    parser.add_argument("--bind", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument(
        "--port", action="append", default=[], help="N, N/tcp or N/udp; repeat for several ports"
    )
    parser.add_argument("--options", default="{}", help="JSON object of this kind's options")
    parser.add_argument("--state-dir", required=True, type=Path, help="this service's state directory")
    parser.add_argument("--name", required=True, help="the controller's name")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def run_service(
    argv: list[str] | None,
    *,
    kind: str,
    transport: Transport,
    options_type: type[OptionsT],
    serve: ServeFunction[OptionsT],
) -> int:
    """The ``main()`` of every service module: parse, serve until SIGTERM, exit 0."""
    parser = _argument_parser(kind)
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, arguments.log_level),
        format=f"%(asctime)s {arguments.name}/{kind} %(name)s %(levelname)s %(message)s",
    )
    try:
        ports = []
        for text in arguments.port:
            number, port_transport = parse_port_argument(text)
            if port_transport is not transport:
                raise LabError(f"--port {text}: the {kind} service serves {transport.value} ports only")
            ports.append(number)
        if not ports:
            raise LabError(f"{kind}: give at least one --port")
        try:
            raw_options = json.loads(arguments.options)
        except json.JSONDecodeError as exc:
            raise LabError(f"{kind}: --options is not valid JSON: {exc}") from None
        options = options_from_mapping(options_type, raw_options, kind=kind)
    except LabError as exc:
        log.error("%s", exc)
        return 2
    context = ServiceContext(state_dir=arguments.state_dir, name=arguments.name)
    context.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(_serve_until_signalled(kind, arguments.bind, ports, options, context, serve))
    except (LabError, OSError) as exc:
        log.error("%s could not start: %s", kind, exc)
        return 1


async def _serve_until_signalled(
    kind: str,
    bind: str,
    ports: list[int],
    options: OptionsT,
    context: ServiceContext,
    serve: ServeFunction[OptionsT],
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hangups: asyncio.Queue[None] = asyncio.Queue()
    # handlers go in before serving so an early SIGTERM is never lost
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    loop.add_signal_handler(signal.SIGHUP, hangups.put_nowait, None)
    running = await serve(bind, ports, options, context=context)
    log.info("%s serving on %s port(s) %s", kind, bind, ", ".join(map(str, running.ports)))

    async def forward_hangups() -> None:
        while True:
            await hangups.get()
            await running.hangup()

    hangup_task = asyncio.create_task(forward_hangups())
    try:
        await stop.wait()
    finally:
        hangup_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hangup_task
        log.info("%s shutting down", kind)
        await running.close()
    return 0
