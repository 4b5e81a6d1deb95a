"""END-TO-END TEST — NOT WRITTEN YET (placeholder, skipped).

Waits for the bridge's MQTT side (publisher + command router), which is being written now.
Everything else in tests/homeassistant mocks the broker; this one must mock nothing between
the parts:

1. Start a real broker on 127.0.0.1:<free port> (mosquitto, as tests/bridge's fixtures do;
   this harness blocks sockets unless the test opts in: `@pytest.mark.enable_socket` plus
   `--allow-hosts=127.0.0.1` or the `socket_enabled` fixture).
2. Start the real bridge with the simulator as a subprocess from the bridge's own venv
   (`.venv/bin/dualcam-bridge ...`): the integration never imports the bridge, and the two
   venvs pin different libraries. Point it at the broker, prefix `dualcam`.
3. Set up HA's real mqtt integration against that broker: a MockConfigEntry(domain="mqtt",
   data={"broker": "127.0.0.1", "port": port}) — do NOT use the `mqtt_mock` fixtures here.
4. Add the DualCam entry (prefix `dualcam`), wait for the simulator's vehicle device.
5. Call `dualcam.request_photo` (return_response=True) on that device; expect ok: true.
6. Wait until camera.<vehicle>_front_camera's image equals the simulator's JPEG
   (bridge/dualcam_bridge/simulator/samples/front.jpg, read as a file, not imported).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.skip(
    reason="TODO end-to-end: needs the bridge's MQTT side (see this module's docstring)"
)


async def test_request_photo_reaches_the_camera_entity() -> None:
    """dualcam.request_photo → real bridge + simulator → camera entity shows the photo."""
    raise NotImplementedError("see the module docstring")
