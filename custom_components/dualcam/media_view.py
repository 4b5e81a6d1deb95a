"""HTTP views: saved copies (authenticated, or with a signed link) and the bridge proxy."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web
from homeassistant.components.http import HomeAssistantView
from homeassistant.core import HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, MEDIA_VIEW_URL
from .media_proxy import DualCamBridgeMediaView, loaded_bridge
from .media_store import safe_file

_REGISTERED: HassKey[bool] = HassKey(f"{DOMAIN}_media_view")


@callback
def async_register_media_view(hass: HomeAssistant) -> None:
    """Register the views once per Home Assistant run (views cannot be removed)."""
    if hass.data.get(_REGISTERED):
        return
    hass.data[_REGISTERED] = True
    hass.http.register_view(DualCamMediaView(hass))
    hass.http.register_view(DualCamBridgeMediaView(hass))


class DualCamMediaView(HomeAssistantView):
    """GET /api/dualcam/media/<entry_id>/<imei>/<day>/<file>: a copy saved in Home Assistant."""

    url = MEDIA_VIEW_URL + "/{entry_id}/{imei}/{day}/{name}"
    name = "api:dualcam:media"
    requires_auth = True

    def __init__(self, hass: HomeAssistant) -> None:
        """Serve files of whichever entry the URL names."""
        self.hass = hass

    async def get(
        self, request: web.Request, entry_id: str, imei: str, day: str, name: str
    ) -> web.StreamResponse:
        """Send the file, or 404 for anything that is not a stored file."""
        if (bridge := loaded_bridge(self.hass, entry_id)) is None:
            return web.Response(status=HTTPStatus.NOT_FOUND)
        path = await self.hass.async_add_executor_job(safe_file, bridge.saver.root, imei, day, name)
        if path is None:
            return web.Response(status=HTTPStatus.NOT_FOUND)
        return web.FileResponse(path)
