"""Screenshots of a real Home Assistant with the dualcam integration (see scripts/ha-screenshots).

From scratch, in a temporary directory: a mosquitto broker and a Home Assistant on free
127.0.0.1 ports, onboarding, the MQTT and DualCam integrations set up through their config
flows, data from a feed command, a dashboard, and headless Chromium screenshots of a
vehicle's device page and of the dashboard. Everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cdp import CdpError, Page
from dashboard import URL_PATH, VIEW_PATH, VehicleEntities, dashboard_config
from ha import HaError, HomeAssistant, until
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FEED = f"{shlex.quote(str(REPO / '.venv/bin/python'))} scripts/ha_screenshots/feed.py"
MAX_PNG_BYTES = 400_000
_T0 = time.monotonic()


def log(msg: str) -> None:
    """Progress on stderr, with the time since start."""
    print(f"[{time.monotonic() - _T0:5.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Child processes, each in its own process group, stopped in reverse start order."""

    def __init__(self, log_dir: Path) -> None:
        """Logs of every process go to log_dir/<name>.log."""
        self.log_dir = log_dir
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start argv in the background."""
        with open(self.log_dir / f"{name}.log", "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        self._procs.append((name, proc))
        return proc

    def check(self) -> None:
        """HaError if a service died, or a one-shot command (the feed) failed."""
        for name, proc in self._procs:
            if (code := proc.poll()) is None:
                continue
            if name in ("mosquitto", "hass", "chromium") or code != 0:
                tail = self.log_tail(name, 15)
                raise HaError(f"{name} exited with {code}" + (f":\n{tail}" if tail else ""))

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The end of a process's log."""
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop_all(self) -> None:
        """SIGTERM each process group, SIGKILL what is still there after a grace period."""
        while self._procs:
            name, proc = self._procs.pop()
            grace = 30 if name == "hass" else 5
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in {grace} s: killing it")
            # Also whatever the leader left behind in its group (a feed's children).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass(frozen=True)
class Shot:
    """One screenshot: a frontend path, the file, and what must be on screen first."""

    path: str
    file: Path
    texts: tuple[str, ...]
    min_images: int
    size: tuple[int, int]


def mosquitto_conf(port: int) -> str:
    """A throwaway broker: loopback only, anonymous, nothing on disk."""
    return (
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "log_dest stdout\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
    )


def ha_configuration(port: int, config_dir: Path) -> str:
    """configuration.yaml: only what the screenshots need, no default_config (network)."""
    return f"""\
homeassistant:
  name: DualCam demo
  latitude: 54.6872
  longitude: 25.2797
  elevation: 112
  unit_system: metric
  time_zone: Europe/Vilnius
  country: LT
  currency: EUR
  language: en
  # In a container HA would default to /media, outside the temporary directory.
  media_dirs:
    local: {config_dir / "media"}
  auth_providers:
    # Logs the browser in without a password (one user, from loopback only).
    - type: trusted_networks
      trusted_networks: [127.0.0.1/32, "::1/128"]
      allow_bypass_login: true
    - type: homeassistant

http:
  server_host: 127.0.0.1
  server_port: {port}

frontend:
config:
media_source:
# The device page's Automations/Scenes/Scripts and Activity cards.
automation:
script:
scene:
logbook:
history:
recorder:
  purge_keep_days: 1
  commit_interval: 1

zone:
  - name: Depot
    latitude: 54.6960
    longitude: 25.2760
    radius: 300
    icon: mdi:warehouse

logger:
  default: warning
"""


async def wait_port(port: int, what: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""

    async def listening() -> bool:
        if proc.poll() is not None:
            raise HaError(f"{what} exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    await until(listening, what, timeout, interval=0.1)


async def setup_mqtt(ha: HomeAssistant, broker_port: int, timeout: float) -> None:
    """The MQTT integration through its config flow, pointing at our broker."""
    result = await ha.start_flow("mqtt")
    if result["type"] == "menu":
        result = await ha.flow_step(result["flow_id"], {"next_step_id": "broker"})
    result = await ha.flow_step(result["flow_id"], {"broker": "127.0.0.1", "port": broker_port})
    if result["type"] != "create_entry":
        raise HaError(f"MQTT config flow did not create an entry: {result}")
    await ha.wait_entry_loaded("mqtt", result["result"]["entry_id"], timeout)


# Onboarding adds these (weather, radio, TTS); their packages are not installed here and
# a failed entry would show up as a repair/notification in the screenshots.
ONBOARDING_DEFAULTS = ("google_translate", "met", "radio_browser", "shopping_list")


async def remove_onboarding_defaults(ha: HomeAssistant) -> list[str]:
    """Delete the config entries onboarding created; their domains."""
    removed = []
    for entry in await ha.request("GET", "/api/config/config_entries/entry"):
        if entry["domain"] in ONBOARDING_DEFAULTS:
            await ha.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")
            removed.append(entry["domain"])
    return removed


async def setup_dualcam(ha: HomeAssistant, procs: Processes, prefix: str, timeout: float) -> str:
    """The DualCam entry: confirm the discovered bridge, or add it by prefix; its entry id."""
    deadline = time.monotonic() + timeout
    # Discovery comes from the retained bridge/info: give it a moment before asking by hand.
    next_manual = time.monotonic() + 5
    while time.monotonic() < deadline:
        procs.check()
        for flow in await ha.flows_in_progress("dualcam"):
            if flow.get("context", {}).get("unique_id") not in (None, prefix):
                continue
            result = await ha.flow_step(flow["flow_id"], {})
            if result["type"] == "create_entry":
                log(f"DualCam bridge discovered on MQTT and added ({result['title']})")
                return result["result"]["entry_id"]
        if time.monotonic() >= next_manual:
            result = await ha.start_flow("dualcam")
            if result["type"] == "form":
                result = await ha.flow_step(result["flow_id"], {"topic_prefix": prefix})
            if result["type"] == "create_entry":
                log(f"DualCam bridge added by prefix ({result['title']})")
                return result["result"]["entry_id"]
            if result["type"] == "form":  # bridge_not_found: try again later
                await ha.request("DELETE", f"/api/config/config_entries/flow/{result['flow_id']}")
            elif result.get("reason") != "already_in_progress":
                raise HaError(f"DualCam config flow: {result}")
            next_manual = time.monotonic() + 5
        await asyncio.sleep(0.5)
    raise HaError(
        f"no DualCam bridge answered on {prefix}/bridge/info within {timeout:.0f} s "
        "(did the feed publish it?)"
    )


async def vehicles_of(ha: HomeAssistant, entry_id: str) -> list[VehicleEntities]:
    """The entry's vehicle devices (not the bridge) and their entities, sorted by name."""
    devices = await ha.ws("config/device_registry/list")
    entities = await ha.ws("config/entity_registry/list")
    vehicles = []
    for device in devices:
        if entry_id not in device["config_entries"] or device.get("via_device_id") is None:
            continue
        imei = device.get("serial_number") or ""
        by_key = {
            e["unique_id"].removeprefix(f"{imei}_"): e["entity_id"]
            for e in entities
            if e.get("device_id") == device["id"] and e.get("platform") == "dualcam"
        }
        name = device.get("name_by_user") or device.get("name") or imei
        vehicles.append(VehicleEntities(name, imei, device["id"], by_key))
    return sorted(vehicles, key=lambda v: v.name)


async def wait_for_photos(
    ha: HomeAssistant, procs: Processes, entry_id: str, timeout: float
) -> list[VehicleEntities]:
    """Wait until every vehicle's cameras have a photo and no new vehicle turned up for 2 s."""
    seen: list[str] = []
    stable_since = time.monotonic()

    async def complete() -> list[VehicleEntities] | None:
        nonlocal seen, stable_since
        procs.check()
        vehicles = await vehicles_of(ha, entry_id)
        if [v.imei for v in vehicles] != seen:
            seen, stable_since = [v.imei for v in vehicles], time.monotonic()
        if not vehicles:
            return None
        states = await ha.states()
        for v in vehicles:
            for cam in ("front_camera", "rear_camera"):
                state = states.get(v.entities.get(cam, ""))
                if state is None or not state["attributes"].get("photo_received_at"):
                    return None
        return vehicles if time.monotonic() - stable_since >= 2 else None

    return await until(complete, "vehicles with front and rear photos", timeout)


async def wait_for_sos(
    ha: HomeAssistant, vehicles: list[VehicleEntities], timeout: float
) -> list[VehicleEntities]:
    """The vehicles whose SOS event has fired, once there is one ([] after timeout)."""

    async def fired() -> list[VehicleEntities]:
        states = await ha.states()
        return [
            v
            for v in vehicles
            if states.get(v.entities.get("sos", ""), {}).get("state") not in (None, "unknown")
        ]

    try:
        return await until(fired, "an SOS event", timeout)
    except HaError:
        return []


async def add_dashboard(ha: HomeAssistant, vehicles: list[VehicleEntities]) -> str:
    """A storage dashboard in the sidebar; its view's path."""
    await ha.ws(
        "lovelace/dashboards/create",
        url_path=URL_PATH,
        title="DualCam",
        icon="mdi:cctv",
        mode="storage",
        show_in_sidebar=True,
        require_admin=False,
    )
    await ha.ws("lovelace/config/save", url_path=URL_PATH, config=dashboard_config(vehicles))
    return f"/{URL_PATH}/{VIEW_PATH}"


def save_png(raw: bytes, path: Path, max_bytes: int = MAX_PNG_BYTES) -> None:
    """Write a screenshot, reduced to a 256-colour palette when the full one is too big."""
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    for colors in (None, 256, 128):
        out = io.BytesIO()
        if colors is None:
            image.save(out, "PNG", optimize=True)
        else:
            image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(
                out, "PNG", optimize=True
            )
        if out.tell() <= max_bytes:
            break
    path.write_bytes(out.getvalue())
    log(
        f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} "
        f"({out.tell() // 1024} KiB)"
    )


async def take_screenshots(
    session: aiohttp.ClientSession,
    procs: Processes,
    work: Path,
    base_url: str,
    shots: list[Shot],
    timeout: float,
) -> None:
    """Headless Chromium: log in (trusted network), then one screenshot per (path, file)."""
    profile = work / "chromium"
    profile.mkdir()
    browser = procs.start(
        "chromium",
        [
            os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--lang=en-US",
            "--force-device-scale-factor=1",
            f"--window-size={shots[0].size[0]},{shots[0].size[1]}",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ],
    )
    port_file = profile / "DevToolsActivePort"

    async def devtools_port() -> int | None:
        if browser.poll() is not None:
            raise HaError(f"chromium exited with {browser.returncode}")
        if port_file.exists() and (lines := port_file.read_text().splitlines()):
            return int(lines[0])
        return None

    port = await until(devtools_port, "Chromium's DevTools port", 30, interval=0.1)
    async with Page.connect(session, port) as page:
        await page.set_viewport(*shots[0].size)
        await page.only_origin(base_url)
        # The frontend sends us through /auth/authorize, which the trusted network passes.
        await page.navigate(f"{base_url}/")
        await until(
            lambda: page.evaluate("!!localStorage.getItem('hassTokens')"),
            "the browser to be logged in",
            timeout,
        )
        for shot in shots:
            log(f"screenshot of {shot.path}")
            await page.set_viewport(*shot.size)
            await page.navigate(base_url + shot.path)
            try:
                await page.wait_ready(
                    path_prefix=shot.path,
                    texts=shot.texts,
                    min_images=shot.min_images,
                    timeout=timeout,
                )
            except CdpError:
                save_png(await page.screenshot(), work / f"not-ready-{shot.file.name}")
                raise
            await asyncio.sleep(1)  # animations (ripples, card fade-in)
            save_png(await page.screenshot(), shot.file)


async def run(args: argparse.Namespace, work: Path, procs: Processes) -> None:
    """Every step, in order; raises on the first failure."""
    broker_port = free_port()
    (work / "mosquitto.conf").write_text(mosquitto_conf(broker_port))
    broker = procs.start("mosquitto", [args.mosquitto, "-c", str(work / "mosquitto.conf")])
    await wait_port(broker_port, "mosquitto", broker, 10)
    log(f"mosquitto on 127.0.0.1:{broker_port}")

    ha_port = free_port()
    config = work / "config"
    (config / "custom_components").mkdir(parents=True)
    (config / "media").mkdir()
    (config / "custom_components" / "dualcam").symlink_to(REPO / "custom_components" / "dualcam")
    (config / "configuration.yaml").write_text(ha_configuration(ha_port, config))
    # --skip-pip: requirements are installed by scripts/ha-screenshots, never at run time.
    procs.start("hass", [args.hass, "-c", str(config), "--skip-pip"], cwd=config)
    base_url = f"http://127.0.0.1:{ha_port}"
    log(f"Home Assistant starting on {base_url} (config in {config})")

    async with aiohttp.ClientSession() as session:
        ha = HomeAssistant(session, base_url)
        try:

            async def started() -> bool:
                procs.check()
                return await ha.is_up()

            await until(started, "Home Assistant to start", args.timeout)
            await ha.onboard("Demo", "demo", secrets.token_urlsafe(16))
            log("onboarded (owner 'demo')")

            await setup_mqtt(ha, broker_port, args.timeout)
            log("MQTT integration set up")
            if removed := await remove_onboarding_defaults(ha):
                log(f"removed onboarding's default entries: {', '.join(removed)}")

            ready_file = work / "ha-ready"
            env = {
                **os.environ,
                "DUALCAM_MQTT_HOST": "127.0.0.1",
                "DUALCAM_MQTT_PORT": str(broker_port),
                "DUALCAM_TOPIC_PREFIX": args.prefix,
                "DUALCAM_READY_FILE": str(ready_file),
                "DUALCAM_HA_URL": base_url,
            }
            feed = procs.start("feed", ["bash", "-c", args.feed], env=env, cwd=REPO)
            log(f"feed started: {args.feed}")

            entry_id = await setup_dualcam(ha, procs, args.prefix, args.timeout)
            await ha.wait_entry_loaded("dualcam", entry_id, args.timeout)
            vehicles = await wait_for_photos(ha, procs, entry_id, args.timeout)
            log(f"vehicles with photos: {', '.join(v.name for v in vehicles)}")

            # The feed may now send what is not retained; a one-shot feed then exits.
            ready_file.touch()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(feed.wait, 15)
            procs.check()
            if with_sos := await wait_for_sos(ha, vehicles, 10):
                log(f"SOS event received from {', '.join(v.name for v in with_sos)}")
            else:
                log("warning: no SOS event arrived (the screenshots show SOS as Unknown)")

            dashboard_path = await add_dashboard(ha, vehicles)
            target = pick_vehicle(with_sos or vehicles, vehicles, args.vehicle)
            shots = [
                Shot(
                    path=f"/config/devices/device/{target.device_id}",
                    file=args.out / "ha-device-page.png",
                    texts=(target.name, "Front camera state", "Request front photo", "SOS"),
                    min_images=0,  # the camera thumbnails are CSS backgrounds
                    size=args.device_page_size,
                ),
                Shot(
                    path=dashboard_path,
                    file=args.out / "ha-dashboard.png",
                    texts=(*(v.name for v in vehicles), "Front camera state"),
                    min_images=2 * len(vehicles),
                    size=args.dashboard_size,
                ),
            ]
            await take_screenshots(session, procs, work, base_url, shots, args.timeout)
            args.screenshots_taken = True
            if args.hold:
                log(f"holding: {base_url}{dashboard_path} (Ctrl-C to stop)")
                await asyncio.Event().wait()
        finally:
            await ha.close()


def pick_vehicle(
    preferred: list[VehicleEntities], vehicles: list[VehicleEntities], wanted: str | None
) -> VehicleEntities:
    """The vehicle for the device page: by name or IMEI, else the first preferred one."""
    if wanted is None:
        return preferred[0]
    for v in vehicles:
        if wanted in (v.name, v.imei):
            return v
    raise HaError(f"no vehicle {wanted!r} (have: {', '.join(v.name for v in vehicles)})")


def parse_size(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT."""
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM ends the run like Ctrl-C, so main's finally still stops everything.
    raise KeyboardInterrupt


def main() -> int:
    """Parse arguments, run, clean up (also on Ctrl-C and SIGTERM)."""
    parser = argparse.ArgumentParser(
        prog="scripts/ha-screenshots", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument(
        "--feed",
        default=DEFAULT_FEED,
        help="shell command that publishes the bridge's topics (run in the repo with "
        "DUALCAM_MQTT_HOST/PORT, DUALCAM_TOPIC_PREFIX, DUALCAM_READY_FILE set; "
        "default: scripts/ha_screenshots/feed.py)",
    )
    parser.add_argument("--prefix", default="dualcam", help="MQTT topic prefix (default dualcam)")
    parser.add_argument(
        "--vehicle",
        help="name or IMEI for the device page (default: one with an SOS, else the first)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="default: docs/")
    parser.add_argument(
        "--device-page-size", type=parse_size, default=(1400, 1220), help="default 1400x1220"
    )
    parser.add_argument(
        "--dashboard-size", type=parse_size, default=(1400, 860), help="default 1400x860"
    )
    parser.add_argument("--timeout", type=float, default=120, help="per step, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--hold", action="store_true", help="keep everything running until Ctrl-C")
    parser.add_argument("--hass", default=str(REPO / ".venv-ha/bin/hass"))
    parser.add_argument("--mosquitto", default=shutil.which("mosquitto") or "/usr/sbin/mosquitto")
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.screenshots_taken = False
    args.out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="dualcam-ha-screenshots-"))
    (work / "logs").mkdir()
    procs = Processes(work / "logs")
    signal.signal(signal.SIGTERM, _interrupt)
    ok = False
    try:
        asyncio.run(run(args, work, procs))
        ok = True
    except KeyboardInterrupt:
        # After the screenshots it is how --hold ends: still a success.
        ok = args.screenshots_taken
        log("stopped" if ok else "interrupted")
    except (HaError, CdpError, OSError, aiohttp.ClientError, TimeoutError) as err:
        log(f"failed: {err}")
        for name in ("hass", "feed", "mosquitto"):
            if tail := procs.log_tail(name, 15):
                log(f"--- end of {name}.log ---\n{tail}")
    finally:
        log("stopping everything started")
        procs.stop_all()
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work} (logs in {work / 'logs'})")
    log("done" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
