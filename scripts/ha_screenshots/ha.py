"""Home Assistant from the outside: onboarding, REST, config flows and the websocket API."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

_T = TypeVar("_T")


class HaError(RuntimeError):
    """Home Assistant refused a request or never reached the expected state."""


async def until(
    check: Callable[[], Awaitable[_T | None]], what: str, timeout: float, interval: float = 0.5
) -> _T:
    """Poll check until it returns something truthy; HaError naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if result := await check():
            return result
        if time.monotonic() > deadline:
            raise HaError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


class HomeAssistant:
    """One instance at base_url, used as the owner after onboarding."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        """Nothing is sent until onboard()."""
        self.session = session
        self.base_url = base_url
        # Like the frontend's: IndieAuth wants a URL, and HA's own origin needs no lookup.
        self.client_id = f"{base_url}/"
        self.tokens: dict[str, Any] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_ids = itertools.count(1)

    # -- plain HTTP ---------------------------------------------------------------------

    async def request(self, method: str, path: str, json: Any = None, auth: bool = True) -> Any:
        """JSON in, JSON out; HaError with HA's message on anything but 2xx."""
        headers = {"Authorization": f"Bearer {self.tokens['access_token']}"} if auth else {}
        async with self.session.request(
            method, self.base_url + path, json=json, headers=headers
        ) as resp:
            body = await resp.text()
            if resp.status >= 300:
                raise HaError(f"{method} {path}: HTTP {resp.status} {body[:500]}")
            return await resp.json() if body else None

    async def is_up(self) -> bool:
        """Whether the HTTP server answers (it starts once the core is up)."""
        try:
            async with self.session.get(f"{self.base_url}/api/onboarding") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    # -- onboarding ---------------------------------------------------------------------

    async def onboard(self, name: str, username: str, password: str) -> None:
        """Create the owner, finish every onboarding step and keep the owner's tokens."""
        done = {
            s["step"] for s in await self.request("GET", "/api/onboarding", auth=False) if s["done"]
        }
        if "user" in done:
            raise HaError("already onboarded: expected a fresh config directory")
        created = await self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
            auth=False,
        )
        await self._exchange_code(created["auth_code"])
        # Location, units and time zone come from configuration.yaml; this marks it done.
        for step in ("core_config", "analytics"):
            if step not in done:
                await self.request("POST", f"/api/onboarding/{step}", {})
        if "integration" not in done:
            await self.request(
                "POST",
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": f"{self.base_url}/?auth_callback=1"},
            )
        remaining = [
            s["step"]
            for s in await self.request("GET", "/api/onboarding", auth=False)
            if not s["done"]
        ]
        if remaining:
            raise HaError(f"onboarding steps left: {remaining}")

    async def _exchange_code(self, code: str) -> None:
        async with self.session.post(
            f"{self.base_url}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        ) as resp:
            if resp.status != 200:
                raise HaError(f"token exchange: HTTP {resp.status} {await resp.text()}")
            self.tokens = await resp.json()

    # -- config entries -----------------------------------------------------------------

    async def start_flow(self, handler: str) -> dict[str, Any]:
        """Start a user config flow."""
        return await self.request(
            "POST",
            "/api/config/config_entries/flow",
            {"handler": handler, "show_advanced_options": False},
        )

    async def flow_step(self, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Submit one step of a config flow."""
        return await self.request("POST", f"/api/config/config_entries/flow/{flow_id}", data)

    async def flows_in_progress(self, handler: str) -> list[dict[str, Any]]:
        """Discovered config flows of handler waiting for the user to confirm them."""
        flows = await self.ws("config_entries/flow/progress")
        return [f for f in flows if f.get("handler") == handler]

    async def entries(self, domain: str) -> list[dict[str, Any]]:
        """The config entries of a domain."""
        return await self.request("GET", f"/api/config/config_entries/entry?domain={domain}")

    async def wait_entry_loaded(self, domain: str, entry_id: str, timeout: float) -> None:
        """Wait until a config entry is set up."""

        async def loaded() -> bool:
            states = {e["entry_id"]: e["state"] for e in await self.entries(domain)}
            if states.get(entry_id) in ("setup_error", "migration_error", "not_loaded"):
                raise HaError(f"{domain} entry {entry_id}: {states[entry_id]}")
            return states.get(entry_id) == "loaded"

        await until(loaded, f"the {domain} entry to load", timeout)

    async def states(self) -> dict[str, dict[str, Any]]:
        """Every entity's state, by entity id."""
        return {s["entity_id"]: s for s in await self.request("GET", "/api/states")}

    # -- websocket ----------------------------------------------------------------------

    async def ws(self, msg_type: str, **data: Any) -> Any:
        """One websocket command and its result (the connection is opened on first use)."""
        if self._ws is None or self._ws.closed:
            self._ws = await self.session.ws_connect(
                f"{self.base_url.replace('http', 'ws', 1)}/api/websocket", max_msg_size=0
            )
            await self._ws.receive_json()  # auth_required
            await self._ws.send_json({"type": "auth", "access_token": self.tokens["access_token"]})
            if (reply := await self._ws.receive_json())["type"] != "auth_ok":
                raise HaError(f"websocket auth: {reply}")
        msg_id = next(self._ws_ids)
        await self._ws.send_json({"id": msg_id, "type": msg_type, **data})
        while True:
            reply = await asyncio.wait_for(self._ws.receive_json(), 30)
            if reply.get("id") == msg_id and reply.get("type") == "result":
                break
        if not reply["success"]:
            raise HaError(f"{msg_type}: {reply['error']}")
        return reply["result"]

    async def close(self) -> None:
        """Close the websocket, if open."""
        if self._ws is not None:
            await self._ws.close()
