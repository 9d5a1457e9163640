"""The controller's web UI on 80/81/82, emulated with ``aiohttp.web``.

Only the parts a scanner can see without logging in: status codes, redirects,
the login challenge, ``Server``, ``<title>`` and whether the legacy UI answers.

Options (JSON keys of ``--options``):

=====================  ==============================================================
``redirect_to_https``  true: every path answers 301 to ``https://<host>/`` (default false)
``login``              "form": ``/`` is an HTML password form; "basic": every page
                       answers 401 with ``WWW-Authenticate: Basic realm="Charge Controller"``;
                       null (default): pages are served without any login
``ui``                 "dashboard" (default): the 2.0 UI only, ``/legacy/`` is 404;
                       "legacy": the old configuration UI, also reachable at ``/legacy/``
``server_header``      the ``Server`` header value (default: aiohttp's own)
=====================  ==============================================================

Must not: accept credentials (there are none; the form and the Basic challenge
never let anyone in), act on a POST (only GET routes exist, anything else is
405), or serve anything but these few small pages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

from lab.services._common import Running, ServiceContext, run_service, serve_web_application
from porthole.model import Protocol as Transport

__all__ = ["Login", "UserInterface", "Options", "build_application", "serve", "main"]

log = logging.getLogger("lab.services.http")

REALM = "Charge Controller"


class Login(StrEnum):
    FORM = "form"
    BASIC = "basic"


class UserInterface(StrEnum):
    DASHBOARD = "dashboard"
    LEGACY = "legacy"


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    redirect_to_https: bool = False
    login: Login | None = None
    ui: UserInterface = UserInterface.DASHBOARD
    server_header: str | None = None


_DASHBOARD_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Charge Controller - Dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body class="dashboard-2">
<header><h1>Charge Controller</h1><nav>Dashboard | Charging | Settings</nav></header>
<main id="app" data-ui="2.0"><p>Loading dashboard&hellip;</p></main>
</body></html>
"""

_LEGACY_PAGE = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html>
<head><title>Charge Controller Configuration</title></head>
<body bgcolor="#ffffff">
<table width="100%"><tr><td><b>Charge Controller</b> &ndash; Legacy configuration interface</td></tr></table>
<form action="/legacy/" method="get"><select name="page"><option>System</option>
<option>Network</option><option>Backend</option><option>Load Management</option></select></form>
</body></html>
"""

_LOGIN_FORM_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Charge Controller - Login</title></head>
<body>
<h1>Charge Controller</h1>
<form action="/login" method="post" autocomplete="off">
<label>User <select name="role"><option>User</option><option>Operator</option>
<option>Installer</option><option>Manufacturer</option></select></label>
<label>Password <input type="password" name="password"></label>
<button type="submit">Log in</button>
</form>
</body></html>
"""


def build_application(options: Options) -> web.Application:
    """The aiohttp application; exposed so tests can serve it on their own runner."""
    application = web.Application()

    async def page(request: web.Request) -> web.StreamResponse:
        if options.redirect_to_https:
            host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
            raise web.HTTPMovedPermanently(location=f"https://{host}/")
        if options.login is Login.BASIC:
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": f'Basic realm="{REALM}"'},
                text="401 Unauthorized\n",
            )
        if options.login is Login.FORM:
            return web.Response(text=_LOGIN_FORM_PAGE, content_type="text/html")
        body = _LEGACY_PAGE if options.ui is UserInterface.LEGACY else _DASHBOARD_PAGE
        return web.Response(text=body, content_type="text/html")

    async def legacy(request: web.Request) -> web.StreamResponse:
        if options.ui is not UserInterface.LEGACY and not options.redirect_to_https:
            raise web.HTTPNotFound()
        return await page(request)

    async def not_found(request: web.Request) -> web.StreamResponse:
        if options.redirect_to_https:
            return await page(request)
        raise web.HTTPNotFound()

    application.router.add_get("/", page)
    application.router.add_get("/legacy/", legacy)
    application.router.add_get("/{tail:.*}", not_found)

    if options.server_header is not None:
        server_header = options.server_header

        async def set_server_header(request: web.Request, response: web.StreamResponse) -> None:
            response.headers["Server"] = server_header

        application.on_response_prepare.append(set_server_header)
    return application


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Serve the UI on every port of ``ports`` (0 = any)."""
    return await serve_web_application(build_application(options), bind, ports, logger=log)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="http", transport=Transport.TCP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
