"""lab.services.http: the web UI emulation, checked with an aiohttp client on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from lab.services._common import Running, ServiceContext
from lab.services.http import Login, Options, UserInterface, serve


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Start the UI with the given options; returns its base URL."""
    started: list[Running] = []
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")

    async def starter(**options: object) -> str:
        running = await serve("127.0.0.1", [0], Options(**options), context=context)  # type: ignore[arg-type]
        started.append(running)
        return f"http://127.0.0.1:{running.ports[0]}"

    yield starter
    for running in started:
        await running.close()


async def get(url: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, allow_redirects=False) as response:
            return response.status, dict(response.headers), await response.text()


async def test_default_ui_serves_the_dashboard_without_login(start) -> None:
    # Given the default UI
    base = await start()
    # When / is fetched
    status, headers, body = await get(base + "/")
    # Then a 200 dashboard page with the controller title comes back
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "<title>Charge Controller - Dashboard</title>" in body


async def test_dashboard_ui_has_no_legacy_interface(start) -> None:
    # Given the 2.0-only UI, When /legacy/ is fetched, Then it is 404
    base = await start(ui=UserInterface.DASHBOARD)
    status, _headers, _body = await get(base + "/legacy/")
    assert status == 404


async def test_legacy_ui_is_served_on_root_and_under_legacy(start) -> None:
    # Given the legacy UI
    base = await start(ui=UserInterface.LEGACY)
    # When / and /legacy/ are fetched
    root = await get(base + "/")
    legacy = await get(base + "/legacy/")
    # Then both serve the legacy configuration page
    for status, _headers, body in (root, legacy):
        assert status == 200
        assert "<title>Charge Controller Configuration</title>" in body


async def test_redirect_to_https_answers_301_for_every_path(start) -> None:
    # Given a UI that redirects to HTTPS
    base = await start(redirect_to_https=True)
    # When several paths are fetched
    for path in ("/", "/legacy/", "/some/deep/page?x=1"):
        status, headers, _body = await get(base + path)
        # Then each is a 301 to https://<host>/ (host without the port)
        assert status == 301
        assert headers["Location"] == "https://127.0.0.1/"


async def test_basic_login_answers_401_with_a_basic_challenge(start) -> None:
    # Given a UI behind HTTP Basic
    base = await start(login=Login.BASIC)
    # When / is fetched without credentials
    status, headers, _body = await get(base + "/")
    # Then 401 with a Basic challenge naming the realm
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="Charge Controller"'


async def test_basic_login_never_accepts_credentials(start) -> None:
    # Given a UI behind HTTP Basic, When credentials are sent, Then it is still 401
    base = await start(login=Login.BASIC)
    async with aiohttp.ClientSession() as session:
        # "admin:admin", spelled out so the test does not depend on aiohttp's auth helpers
        credentials = {"Authorization": "Basic YWRtaW46YWRtaW4="}
        async with session.get(base + "/", headers=credentials) as response:
            assert response.status == 401


async def test_form_login_serves_a_password_form(start) -> None:
    # Given a UI with a login form
    base = await start(login=Login.FORM)
    # When / is fetched
    status, _headers, body = await get(base + "/")
    # Then a 200 page with a password field comes back
    assert status == 200
    assert 'type="password"' in body
    assert "<title>Charge Controller - Login</title>" in body


async def test_posting_the_form_is_refused(start) -> None:
    # Given a UI with a login form, When the form is posted, Then 405 (only GET routes exist)
    base = await start(login=Login.FORM)
    async with aiohttp.ClientSession() as session:
        async with session.post(base + "/login", data={"password": "x"}) as response:
            assert response.status == 405


async def test_server_header_option_replaces_the_server_header(start) -> None:
    # Given a custom Server header, When any page (even a 404) is fetched, Then it carries it
    base = await start(server_header="lighttpd/1.4.59")
    for path in ("/", "/missing"):
        _status, headers, _body = await get(base + path)
        assert headers["Server"] == "lighttpd/1.4.59"


async def test_unknown_paths_are_404(start) -> None:
    base = await start()
    status, _headers, _body = await get(base + "/cgi-bin/firmware.cgi")
    assert status == 404
