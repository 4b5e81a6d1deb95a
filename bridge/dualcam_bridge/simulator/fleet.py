"""Vehicles = a simulated tracker + its DualCam; ``simulate tracker`` / ``simulate fleet`` CLI.

    result = await simulate_fleet("127.0.0.1", 5027, 5028, vehicles=10, duration=10, crash_at=3)

``cli.py`` wires the subcommands with ``add_tracker_arguments`` / ``run_tracker_command`` and
``add_fleet_arguments`` / ``run_fleet_command``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from ..contract import CAMERA_STATE_NAMES
from ..events import DomainEvent, EventHandler, SosClipLinked, SosTriggered
from .camera import SimulatedCamera
from .tracker import SimulatedTracker, TrackerFaults, TrackerResult

DEFAULT_IMEI = "352094082736916"
CARD_MOUNTED = 3  # contract.CAMERA_STATE_NAMES: the healthy camera state
FLEET_IMEI_BASE = 352094082737000


@dataclass
class Vehicle:
    """A tracker and the camera it commands."""

    tracker: SimulatedTracker
    camera: SimulatedCamera

    @property
    def imei(self) -> str:
        """Both devices report the same IMEI (the camera's is its tracker's)."""
        return self.tracker.imei


@dataclass
class FleetResult:
    """What a fleet run did."""

    vehicles: list[Vehicle] = field(default_factory=list)

    @property
    def trackers(self) -> list[TrackerResult]:
        """Each tracker's result."""
        return [v.tracker.result for v in self.vehicles]

    def summary(self) -> str:
        """One line for the CLI."""
        records = sum(r.records_acked for r in self.trackers)
        dropped = sum(r.acks_dropped for r in self.trackers)
        commands = sum(len(r.commands) for r in self.trackers)
        uploaded = sum(len(v.camera.result.delivered) for v in self.vehicles)
        return (
            f"{len(self.vehicles)} vehicles: {records} records ACKed ({dropped} ACKs lost and "
            f"resent), {commands} commands answered, {uploaded} files uploaded"
        )


def make_vehicle(
    host: str,
    avl_port: int,
    camera_port: int,
    imei: str,
    *,
    interval: float | None = 1.0,
    crash_at: float | None = None,
    faults: TrackerFaults | None = None,
    front_state: int = CARD_MOUNTED,
    rear_state: int = CARD_MOUNTED,
) -> Vehicle:
    """A tracker linked to a DualCam that uploads to ``camera_port``.

    The camera states (AVL 498 front / 497 rear) default to 3, a mounted card: healthy.
    """
    camera = SimulatedCamera(host, camera_port, imei)
    tracker = SimulatedTracker(
        host,
        avl_port,
        imei,
        camera=camera,
        interval=interval,
        crash_at=crash_at,
        faults=faults,
        front_state=front_state,
        rear_state=rear_state,
    )
    return Vehicle(tracker, camera)


def drop_every(n: int | None, up_to: int = 100_000) -> frozenset[int]:
    """Packet numbers n, 2n, 3n … (whose ACKs a fault plan loses)."""
    return frozenset(range(n, up_to, n)) if n else frozenset()


async def simulate_fleet(
    host: str,
    avl_port: int,
    camera_port: int,
    vehicles: int = 10,
    *,
    duration: float = 10.0,
    interval: float | None = 1.0,
    crash_at: float | None = None,
    drop_ack_every: int | None = None,
    imei_base: int = FLEET_IMEI_BASE,
    upload_timeout: float = 120.0,
) -> FleetResult:
    """Run ``vehicles`` trackers for ``duration`` s, then wait for their cameras' uploads."""
    fleet = FleetResult(
        [
            make_vehicle(
                host,
                avl_port,
                camera_port,
                str(imei_base + n),
                interval=interval,
                crash_at=crash_at,
                faults=TrackerFaults(drop_acks=drop_every(drop_ack_every)),
            )
            for n in range(vehicles)
        ]
    )
    await asyncio.gather(*(v.tracker.run(duration) for v in fleet.vehicles))
    await asyncio.gather(*(v.tracker.wait_uploads(upload_timeout) for v in fleet.vehicles))
    return fleet


async def demo_crash(
    subscribe: Callable[[EventHandler], object],
    host: str,
    avl_port: int,
    camera_port: int,
    imei: str,
    out: Callable[[str], None] = print,
    timeout: float = 60.0,
) -> tuple[SosTriggered, list[SosClipLinked]]:
    """The demo's crash: a vehicle crashes, the SOS arrives, then both crash clips are linked."""
    sos: list[SosTriggered] = []
    links: list[SosClipLinked] = []
    both = asyncio.Event()

    async def show(event: DomainEvent) -> None:
        if isinstance(event, SosTriggered) and event.imei == imei:
            sos.append(event)
            pos = event.position
            where = f"{pos.latitude:.5f}, {pos.longitude:.5f}" if pos else "no GNSS fix"
            out(f"SOS from {imei}: {event.trigger} at {event.timestamp:%H:%M:%S} UTC ({where})")
        elif isinstance(event, SosClipLinked) and event.imei == imei:
            links.append(event)
            out(f"crash clip for that SOS, {event.camera} camera: {event.path}")
            if len(links) == 2:
                both.set()

    subscribe(show)
    vehicle = make_vehicle(host, avl_port, camera_port, imei, interval=1.0)
    run = asyncio.create_task(vehicle.tracker.run())
    out(f"simulator: vehicle {imei} crashes")
    vehicle.tracker.trigger_sos(3)
    try:
        await asyncio.wait_for(both.wait(), timeout)
    finally:
        vehicle.tracker.stop()
        await run
    return sos[0], links


# ---- CLI ---------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--camera-port", type=int, default=5028)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between records")
    parser.add_argument("--crash-at", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--drop-ack-every", type=int, default=None, metavar="N",
                        help="lose the ACK of every Nth packet (the tracker resends)")  # fmt: skip
    parser.add_argument("--log-level", default="warning")


def add_tracker_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``dualcam-bridge simulate tracker``."""
    parser.add_argument("--port", type=int, default=5027, help="the bridge's AVL port")
    parser.add_argument("--imei", default=DEFAULT_IMEI)
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: Ctrl-C)")
    parser.add_argument("--no-camera", action="store_true", help="no DualCam behind the tracker")
    states = ", ".join(f"{value} {name}" for value, name in CAMERA_STATE_NAMES.items())
    for camera in ("front", "rear"):
        parser.add_argument(
            f"--{camera}-state",
            type=int,
            choices=sorted(CAMERA_STATE_NAMES),
            default=CARD_MOUNTED,
            help=f"the {camera} camera's state ({states}; default 3, healthy)",
        )
    _common(parser)


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``dualcam-bridge simulate fleet``."""
    parser.add_argument("--vehicles", type=int, default=10)
    parser.add_argument("--avl-port", type=int, default=5027)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    _common(parser)


def run_tracker_command(args: argparse.Namespace) -> int:
    """``simulate tracker``: one vehicle until ``--duration`` or Ctrl-C; 0 if all was ACKed."""

    async def main() -> Vehicle:
        vehicle = make_vehicle(
            args.host,
            args.port,
            args.camera_port,
            args.imei,
            interval=args.interval,
            crash_at=args.crash_at,
            faults=TrackerFaults(drop_acks=drop_every(args.drop_ack_every)),
            front_state=args.front_state,
            rear_state=args.rear_state,
        )
        if args.no_camera:
            vehicle.tracker.camera = None
        _stop_on_signals(vehicle.tracker.stop)
        await vehicle.tracker.run(args.duration)
        await vehicle.tracker.wait_uploads()
        return vehicle

    vehicle = asyncio.run(main())
    result = vehicle.tracker.result
    print(
        f"tracker {vehicle.imei}: {result.records_acked}/{len(vehicle.tracker.sent)} records "
        f"ACKed over {result.connections} connections ({result.acks_dropped} ACKs lost), "
        f"{len(result.commands)} commands, {len(vehicle.camera.result.delivered)} files uploaded"
    )
    return 0 if not vehicle.tracker.pending and not result.login_rejected else 1


def run_fleet_command(args: argparse.Namespace) -> int:
    """``simulate fleet --vehicles N``; 0 if every record was ACKed."""
    fleet = asyncio.run(
        simulate_fleet(
            args.host,
            args.avl_port,
            args.camera_port,
            args.vehicles,
            duration=args.duration,
            interval=args.interval,
            crash_at=args.crash_at,
            drop_ack_every=args.drop_ack_every,
        )
    )
    print(fleet.summary())
    return 0 if all(not v.tracker.pending for v in fleet.vehicles) else 1


def _stop_on_signals(stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)
