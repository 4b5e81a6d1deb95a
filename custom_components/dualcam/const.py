"""Constants of the DualCam integration itself; the MQTT contract's tables are in contract.py."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "dualcam"
MANUFACTURER: Final = "Teltonika"
MODEL: Final = "DualCam"
# The bridge is this project's software, not a Teltonika product.
BRIDGE_MANUFACTURER: Final = "dualcam-bridge"
BRIDGE_MODEL: Final = "DualCam bridge"

CONF_TOPIC_PREFIX: Final = "topic_prefix"
CONF_STORE_MEDIA: Final = "store_media"
CONF_MEDIA_DIR: Final = "media_dir"
CONF_VEHICLES: Final = "vehicles"

DEFAULT_STORE_MEDIA: Final = True
MEDIA_SUBDIR: Final = "dualcam"

EVENT_MEDIA_RECEIVED: Final = "dualcam_media_received"
EVENT_MEDIA_SAVED: Final = "dualcam_media_saved"
EVENT_SOS: Final = "dualcam_sos"

# How long a service waits for the bridge's command/result.
DEFAULT_COMMAND_TIMEOUT: Final = 30
MAX_COMMAND_TIMEOUT: Final = 300
# An SOS collects clips that arrive within this window.
SOS_CLIP_WINDOW: Final = 600
# Signed links in bus events stay valid this long (enough to open a notification).
SIGNED_URL_TTL: Final = 24 * 3600

# Saved copies (media_view.py) and the proxy to the bridge's files (media_proxy.py).
MEDIA_VIEW_URL: Final = "/api/dualcam/media"
BRIDGE_MEDIA_URL: Final = "/api/dualcam/bridge_media"
# Thumbnails in the media browser are signed for this long (the frontend loads them with an
# img tag, without the login header).
THUMBNAIL_URL_TTL: Final = 3600
