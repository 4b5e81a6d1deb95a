"""A small Chrome DevTools Protocol client over aiohttp: navigate, wait, screenshot.

Only what screenshots of the Home Assistant frontend need. A page is "ready" when a
JavaScript condition holds and the network has been idle for a moment, which is what
makes the difference between a picture of a spinner and a picture of the page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import time
from typing import Any

import aiohttp


class CdpError(RuntimeError):
    """A DevTools command failed or the page never became ready."""


# Text of the whole page, including every shadow root (the HA frontend is all shadow DOM).
DEEP_TEXT_JS = """
(() => {
  const parts = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { parts.push(node.nodeValue); return; }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document);
  return parts.join(' ').replace(/\\s+/g, ' ');
})()
"""

# Images and spinners anywhere in the page (shadow roots included).
PAGE_STATE_JS = """
(() => {
  const found = {loading: 0, loaded: 0, spinners: 0};
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      const tag = el.tagName.toLowerCase();
      if (tag === 'img') {
        if (!el.complete) found.loading += 1;
        else if (el.naturalWidth > 0) found.loaded += 1;
      }
      if ((tag === 'ha-spinner' || tag === 'ha-circular-progress') && el.offsetParent !== null)
        found.spinners += 1;
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return {...found, path: location.pathname};
})()
"""


class Page:
    """One browser tab driven through its DevTools websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Use an open websocket to a page target."""
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        # requestId -> (url, when it started)
        self._inflight: dict[str, tuple[str, float]] = {}
        self._last_network = time.monotonic()
        self._allowed_origin: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, session: aiohttp.ClientSession, devtools_port: int):
        """The first page of a browser started with --remote-debugging-port."""
        for _ in range(50):  # the first tab may take a moment to show up
            async with session.get(f"http://127.0.0.1:{devtools_port}/json/list") as resp:
                pages = [t for t in await resp.json() if t.get("type") == "page"]
            if pages:
                break
            await asyncio.sleep(0.1)
        else:
            raise CdpError("the browser has no page")
        target = pages[0]
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = cls(ws)
            try:
                await page.send("Page.enable")
                await page.send("Network.enable")
                yield page
            finally:
                page._reader.cancel()

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data:
                if (future := self._pending.pop(data["id"], None)) and not future.done():
                    future.set_result(data)
                continue
            self._on_event(data.get("method", ""), data.get("params", {}))
        for future in self._pending.values():
            future.set_exception(CdpError("DevTools connection closed"))

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Fetch.requestPaused":
            task = asyncio.create_task(self._allow_or_block(params))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        # Long-lived requests (the HA websocket, event streams) never finish: only count
        # what a page load waits for.
        if method == "Network.requestWillBeSent":
            if params.get("type") not in ("WebSocket", "EventSource"):
                self._inflight[params["requestId"]] = (params["request"]["url"], time.monotonic())
                self._last_network = time.monotonic()
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self._inflight.pop(params["requestId"], None)
            self._last_network = time.monotonic()

    async def only_origin(self, origin: str) -> None:
        """Fail every request to another origin at once (no internet: they would hang).

        The frontend fetches integration logos from brands.home-assistant.io and map tiles
        from a CDN; blocked, they show as missing instead of keeping the page loading.
        """
        self._allowed_origin = origin.rstrip("/") + "/"
        await self.send("Network.setBypassServiceWorker", bypass=True)
        await self.send("Fetch.enable", patterns=[{"urlPattern": "*"}])

    async def _allow_or_block(self, params: dict[str, Any]) -> None:
        request_id = params["requestId"]
        url = params["request"]["url"]
        with contextlib.suppress(CdpError):
            if self._allowed_origin and not url.startswith(
                (self._allowed_origin, "data:", "blob:")
            ):
                await self.send(
                    "Fetch.failRequest", requestId=request_id, errorReason="BlockedByClient"
                )
            else:
                await self.send("Fetch.continueRequest", requestId=request_id)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one DevTools command and return its result."""
        msg_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        await self._ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, 60)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise CdpError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    async def set_viewport(self, width: int, height: int) -> None:
        """Lay the page out at this size (CSS pixels, scale 1)."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _pending_requests(self, stale_after: float = 10) -> list[str]:
        """URLs still loading; DevTools does not report the end of every request (some
        cancelled by a navigation or served from the cache), so old ones do not count."""
        now = time.monotonic()
        return sorted(url for url, t in self._inflight.values() if now - t < stale_after)

    async def navigate(self, url: str) -> None:
        """Open url (returns once the navigation started, not when it is rendered)."""
        self._inflight.clear()
        await self.send("Page.navigate", url=url)

    async def text(self) -> str:
        """All text on the page, shadow DOM included."""
        return await self.evaluate(DEEP_TEXT_JS) or ""

    async def wait_ready(
        self,
        *,
        path_prefix: str,
        texts: tuple[str, ...],
        min_images: int,
        timeout: float,
        idle: float = 1.5,
    ) -> None:
        """Wait until the page shows path_prefix with texts and loaded images, network idle."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        missing: list[str] = list(texts)
        while time.monotonic() < deadline:
            state = await self.evaluate(PAGE_STATE_JS) or {}
            if state.get("path", "").startswith(path_prefix):
                page_text = await self.text()
                missing = [t for t in texts if t not in page_text]
                if (
                    not missing
                    and state["loaded"] >= min_images
                    and state["loading"] == 0
                    and state["spinners"] == 0
                    and not self._pending_requests()
                    and time.monotonic() - self._last_network >= idle
                ):
                    return
            await asyncio.sleep(0.25)
        raise CdpError(
            f"page not ready after {timeout:.0f} s: {state}, missing text {missing}, "
            f"requests in flight: {self._pending_requests()[:8]}"
        )

    async def screenshot(self) -> bytes:
        """What the viewport shows, as PNG."""
        result = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(result["data"])
