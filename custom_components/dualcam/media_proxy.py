"""The authenticated proxy to the bridge's media: Home Assistant fetches on demand.

`GET|HEAD /api/dualcam/bridge_media/<entry_id>/<media_id>/<variant>` streams the bridge's
signed link for that variant (file, poster, thumbnail, browser; "best" = browser, else file)
as the media index recorded it from the media event. Range, If-Range, If-None-Match and
If-Modified-Since go to the bridge; its status (200, 206, 304, 416) and the headers a player
needs come back; the body is relayed chunk by chunk, never held whole.

The request only selects an item of the index: the URL that is fetched is the bridge's own
link, and nothing from the request reaches a file path or the bridge's URL.
Errors: unknown entry, id or variant 404; link expired (by its `exp`) 410; bridge
unreachable, refusing the link or answering nonsense 502, each with a log line naming the
vehicle.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Final

import aiohttp
from aiohttp import hdrs, web
from homeassistant.components.http import HomeAssistantView
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util

from .bridge import DualCamBridge, DualCamConfigEntry
from .const import BRIDGE_MEDIA_URL, DOMAIN
from .media_index import PROXY_VARIANTS, MediaItem, link_expiry
from .models import MEDIA_ID_RE

_LOGGER = logging.getLogger(__name__)

CHUNK: Final = 64 * 1024
# No total: a long clip to a slow phone takes what it takes; a silent bridge does not.
TIMEOUT: Final = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)
# Never Authorization: Home Assistant's token is not the bridge's business.
FORWARDED: Final = (hdrs.RANGE, hdrs.IF_RANGE, hdrs.IF_NONE_MATCH, hdrs.IF_MODIFIED_SINCE)
RELAYED: Final = (
    hdrs.CONTENT_TYPE,
    hdrs.CONTENT_LENGTH,
    hdrs.CONTENT_RANGE,
    hdrs.ACCEPT_RANGES,
    hdrs.ETAG,
    hdrs.LAST_MODIFIED,
)
PASSED_STATUSES: Final = frozenset({200, 206, 304, 416})


def loaded_bridge(hass: HomeAssistant, entry_id: str) -> DualCamBridge | None:
    """The bridge of a loaded DualCam entry."""
    entry: DualCamConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
        return None
    return entry.runtime_data


class DualCamBridgeMediaView(HomeAssistantView):
    """Streams a photo, clip, poster or thumbnail from the bridge to a logged-in user."""

    url = BRIDGE_MEDIA_URL + "/{entry_id}/{media_id}/{variant}"
    name = "api:dualcam:bridge_media"
    requires_auth = True

    def __init__(self, hass: HomeAssistant) -> None:
        """Serve the items of whichever entry the URL names."""
        self.hass = hass
        # One log line per item and failure, not one per range request of a player.
        self._logged: set[tuple[str, str]] = set()

    async def get(
        self, request: web.Request, entry_id: str, media_id: str, variant: str
    ) -> web.StreamResponse:
        """The bytes, as the bridge sends them."""
        return await self._proxy(request, entry_id, media_id, variant)

    async def head(
        self, request: web.Request, entry_id: str, media_id: str, variant: str
    ) -> web.StreamResponse:
        """The headers only."""
        return await self._proxy(request, entry_id, media_id, variant)

    def _fail(
        self, status: HTTPStatus, item: MediaItem, bridge: DualCamBridge, why: str
    ) -> web.Response:
        if (item.id, why) not in self._logged:
            self._logged.add((item.id, why))
            _LOGGER.warning(
                "Cannot play %s %s of %s from the bridge: %s",
                item.kind,
                item.id,
                bridge.vehicle_name(item.imei),
                why,
            )
        return web.Response(status=status)

    async def _proxy(
        self, request: web.Request, entry_id: str, media_id: str, variant: str
    ) -> web.StreamResponse:
        bridge = loaded_bridge(self.hass, entry_id)
        if bridge is None or variant not in PROXY_VARIANTS or not MEDIA_ID_RE.fullmatch(media_id):
            return web.Response(status=HTTPStatus.NOT_FOUND)
        if (item := bridge.media_index.get(media_id)) is None:
            return web.Response(status=HTTPStatus.NOT_FOUND)
        if (link := item.link(variant)) is None:
            return web.Response(status=HTTPStatus.NOT_FOUND)
        if (expires := link_expiry(link)) is not None and expires <= dt_util.utcnow():
            return self._fail(
                HTTPStatus.GONE,
                item,
                bridge,
                f"its link expired at {expires.isoformat()} (the bridge's http.link_ttl_hours)",
            )
        headers = {name: value for name in FORWARDED if (value := request.headers.get(name))}
        session = async_get_clientsession(self.hass)
        try:
            upstream = await session.request(
                request.method,
                link,
                headers=headers,
                timeout=TIMEOUT,
                allow_redirects=False,
                auto_decompress=False,
            )
        except (aiohttp.ClientError, TimeoutError) as err:
            why = f"the bridge is unreachable ({err or type(err).__name__})"
            return self._fail(HTTPStatus.BAD_GATEWAY, item, bridge, why)
        async with upstream:
            if upstream.status == HTTPStatus.NOT_FOUND:
                why = "the bridge no longer has it (404)"
                return self._fail(HTTPStatus.NOT_FOUND, item, bridge, why)
            if upstream.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                why = f"the bridge refused its link ({upstream.status}; a new http secret?)"
                return self._fail(HTTPStatus.BAD_GATEWAY, item, bridge, why)
            if upstream.status not in PASSED_STATUSES:
                why = f"the bridge answered {upstream.status}"
                return self._fail(HTTPStatus.BAD_GATEWAY, item, bridge, why)
            # Working again: a later failure is worth a line again.
            self._logged = {key for key in self._logged if key[0] != item.id}
            return await self._relay(request, upstream, item, bridge)

    async def _relay(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        item: MediaItem,
        bridge: DualCamBridge,
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status)
        for name in RELAYED:
            if (value := upstream.headers.get(name)) is not None:
                response.headers[name] = value
        # Authenticated content: no shared cache may keep it.
        response.headers[hdrs.CACHE_CONTROL] = "private"
        await response.prepare(request)
        if request.method == hdrs.METH_HEAD:
            return response
        try:
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await response.write(chunk)
        except ConnectionResetError:
            # The player went away (seeking does that): nothing to report. (aiohttp's
            # ClientConnectionResetError is a ClientError too, hence this comes first.)
            response.force_close()
            return response
        except (aiohttp.ClientError, TimeoutError) as err:
            # Too late for a status: end the connection so the player sees a cut, not a
            # short file.
            response.force_close()
            _LOGGER.warning(
                "The bridge stopped sending %s %s of %s: %s",
                item.kind,
                item.id,
                bridge.vehicle_name(item.imei),
                err or type(err).__name__,
            )
            return response
        await response.write_eof()
        return response
