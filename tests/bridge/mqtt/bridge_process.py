"""A bridge's MQTT side in its own process, for the SIGKILL tests (run as a script).

    python bridge_process.py MODE STATE_DB PORT MEDIA_DIR [ROUNDS]

queue:   feed a fleet's events, write a manifest, print "queued", then wait to be killed.
deliver: connect, deliver what the outbox holds, print "delivered", exit.
online:  connect, print "connected", then wait to be killed (for the Last Will).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from helpers import IMEIS, Fleet

from dualcam_bridge.events import MediaCompleted
from dualcam_bridge.mqtt import Backoff, MqttConfig, MqttPublisher

IMEI_COUNT = 5


async def main(mode: str, state: Path, port: int, media: Path, rounds: int) -> None:
    config = MqttConfig(host="127.0.0.1", port=port, client_id=f"bridge-{uuid.uuid4().hex[:8]}")
    publisher = MqttPublisher(config, state, backoff=Backoff(0.05, 0.3))
    await publisher.start()
    if mode == "queue":
        fleet = Fleet(media)
        manifest = []
        for _ in range(rounds):
            for imei in IMEIS[:IMEI_COUNT]:
                for event in (
                    fleet.photo(imei, "front"),
                    fleet.sos(imei),
                    fleet.photo(imei, "rear"),
                ):
                    await publisher.handle_event(event)
                    if isinstance(event, MediaCompleted):
                        manifest.append({"id": event.id, "imei": imei, "path": str(event.path)})
        (media / "manifest.json").write_text(json.dumps(manifest))
        print("queued", flush=True)
    elif mode == "deliver":
        await publisher.flush(30)
        await publisher.stop()
        print("delivered", flush=True)
        return
    elif mode == "online":
        await publisher.wait_connected(10)
        print("connected", flush=True)
    await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    mode, state, port, media = sys.argv[1:5]
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    asyncio.run(main(mode, Path(state), int(port), Path(media), rounds))
