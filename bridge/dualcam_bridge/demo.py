"""``dualcam-bridge demo``: the bridge and simulated cameras in one process, real files out."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from .app import Bridge
from .config import AvlConfig, CameraConfig, Config, HttpConfig, MqttConfig
from .events import DomainEvent, MediaCompleted, MediaVariantReady
from .mqtt.listen import describe
from .simulator.camera import Faults, SimulatedCamera, make_captures
from .simulator.fleet import demo_crash

DEMO_IMEI_BASE = 352094082736900
CRASH_IMEI = "352094082736999"  # the vehicle that crashes (its clips are not counted above)


async def run_demo(
    data_dir: Path,
    cameras: int = 2,
    photos: int = 2,
    videos: int = 1,
    faults: Faults | None = None,
    keep_running: bool = False,
    out: Callable[[str], None] = print,
    show_mqtt: bool = True,
) -> list[MediaCompleted]:
    """Start a bridge on free loopback ports, upload from ``cameras`` simulated DualCams."""
    mqtt_port = _free_port()
    config = Config(
        data_dir=data_dir,
        camera=CameraConfig(host="127.0.0.1", port=0),
        avl=AvlConfig(host="127.0.0.1", port=0),
        # The embedded broker, on a free port so a broker already on 1883 is no obstacle.
        mqtt=MqttConfig(port=mqtt_port),
        # Files by URL, on loopback and a free port (the links name it).
        http=HttpConfig(host="127.0.0.1", port=0),
    )
    done: list[MediaCompleted] = []

    def published(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if show_mqtt:
            line = describe(topic, payload, qos, retain)
            out("mqtt → " + (line if len(line) <= 200 else line[:197] + "…"))

    async with Bridge(config, on_published=published) as bridge:

        async def show(event: DomainEvent) -> None:
            if isinstance(event, MediaVariantReady) and bridge.signer is not None:
                clip = event.media
                out(
                    f"  browser MP4 (H.264, plays in any browser) of {clip.imei} {clip.camera}: "
                    f"{bridge.signer.url(clip.id, 'browser')}"
                )
                return
            if not isinstance(event, MediaCompleted):
                return
            if event.imei != CRASH_IMEI:
                done.append(event)
                out(_describe(event))
            if bridge.signer is not None:  # the same kind of link the media event carries
                what = "  url" if event.imei != CRASH_IMEI else f"crash clip {event.camera} url"
                out(f"{what}: {bridge.signer.url(event.id, 'file')}")

        bridge.subscribe(show)
        port = bridge.camera.port
        out(f"bridge: camera server on 127.0.0.1:{port}, data in {data_dir.resolve()}")
        out(
            f"bridge: AVL server on 127.0.0.1:{bridge.avl.port}, embedded MQTT broker on "
            f"127.0.0.1:{mqtt_port} (watch: mosquitto_sub -h 127.0.0.1 -p {mqtt_port} "
            "-t 'dualcam/#' -v)"
        )
        if bridge.signer is not None:
            out(
                f"bridge: HTTP on 127.0.0.1:{bridge.http_port} (curl -s "
                f"{bridge.signer.base_url}/healthz; each file's url below: curl -o FILE URL)"
            )
        if not bridge.store.remuxer.available:
            out("bridge: ffmpeg not found, videos stay raw H.265 (install ffmpeg for MP4)")
        sims = [
            SimulatedCamera(
                "127.0.0.1",
                port,
                str(DEMO_IMEI_BASE + n),
                make_captures(str(DEMO_IMEI_BASE + n), photos=photos, videos=videos),
                faults or Faults(corrupt_rate=0.01, disconnect_after_packets=120),
                seed=n,
            )
            for n in range(cameras)
        ]
        out(f"simulator: {cameras} cameras uploading {photos} photos and {videos} videos each")
        results = await asyncio.gather(*(s.run() for s in sims))
        sent = sum(len(r.delivered) for r in results)
        resumes = sum(r.resumes for r in results)
        out(
            f"done: {len(done)} files stored of {sent} sent "
            f"({resumes} transfers resumed after injected link drops and bad CRCs)"
        )
        avl_port = bridge.avl.port
        assert avl_port is not None  # the demo's config enables the AVL server
        await demo_crash(bridge.subscribe, "127.0.0.1", avl_port, port, CRASH_IMEI, out)
        # The media workers make posters and the browser MP4s (at the lowest priority).
        async with asyncio.timeout(120):
            await bridge.derivatives.wait_idle()
        if bridge.mqtt is not None:
            await bridge.mqtt.flush(10)
            out(f"mqtt: every message delivered to the broker ({bridge.mqtt.pending} pending)")
        if keep_running:
            out(f"bridge keeps running on 127.0.0.1:{port}; Ctrl-C to stop")
            await asyncio.Event().wait()
    return done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _describe(rec: MediaCompleted) -> str:
    shown = rec.payload_path
    viewer = "xdg-open" if rec.kind == "photo" else ("ffplay" if shutil.which("ffplay") else "mpv")
    return (
        f"stored {rec.kind} from {rec.imei} {rec.camera} camera: {shown} "
        f"({shown.stat().st_size:,} bytes) — view: {viewer} {shown}"
    )
