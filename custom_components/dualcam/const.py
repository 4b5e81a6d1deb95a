"""Constants shared by the DualCam integration (names follow the MQTT contract)."""

from __future__ import annotations

import re
from typing import Final

DOMAIN: Final = "dualcam"
MANUFACTURER: Final = "Teltonika"
MODEL: Final = "DualCam"
BRIDGE_MODEL: Final = "DualCam bridge"

CONF_TOPIC_PREFIX: Final = "topic_prefix"
CONF_STORE_MEDIA: Final = "store_media"
CONF_MEDIA_DIR: Final = "media_dir"
CONF_VEHICLES: Final = "vehicles"

DEFAULT_TOPIC_PREFIX: Final = "dualcam"
DEFAULT_STORE_MEDIA: Final = True
MEDIA_SUBDIR: Final = "dualcam"

CAMERAS: Final = ("front", "rear")
CAMERA_SOURCES: Final = ("front", "rear", "both")
# Index = the AVL 497/498 value; the bridge also sends the name, this is the fallback.
CAMERA_STATES: Final = (
    "not_detected",
    "no_card",
    "card_mount_failed",
    "card_failed",
    "card_faulty",
)
# Index = the AVL 499 value.
SOS_TRIGGERS: Final = ("server_request", "din1", "din2", "crash")

IMEI_RE: Final = re.compile(r"^\d{15}$")

EVENT_MEDIA_RECEIVED: Final = "dualcam_media_received"
EVENT_SOS: Final = "dualcam_sos"

# How long a service waits for the bridge's command/result.
DEFAULT_COMMAND_TIMEOUT: Final = 30
MAX_COMMAND_TIMEOUT: Final = 300
# A media event waits this long for its payload (and a payload for its event).
MEDIA_PAIRING_TIMEOUT: Final = 120
# An SOS collects clips that arrive within this window.
SOS_CLIP_WINDOW: Final = 600
# Signed links in bus events stay valid this long (enough to open a notification).
SIGNED_URL_TTL: Final = 24 * 3600

MEDIA_VIEW_URL: Final = "/api/dualcam/media"
