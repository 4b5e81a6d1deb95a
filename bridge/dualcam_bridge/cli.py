"""Command line: ``dualcam-bridge run | check-config | simulate | demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from . import __version__
from .config import ConfigError, HttpConfig, load
from .config_fields import replace_checked


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from .app import Bridge

    config = load(args.config)
    _setup_logging(config.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with Bridge(config):
            await stop.wait()
        logging.getLogger("dualcam_bridge").info("stopped")

    asyncio.run(main())
    return 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    config = load(args.file)
    print(f"{args.file}: OK")
    print(_describe_http(config.http))
    return 0


def _describe_http(http: HttpConfig) -> str:
    """The http section as the bridge will apply it (the links' base, who gets what)."""
    if not http.enabled:
        return "http: disabled (media events carry no URLs)"
    from .http.links import default_public_url

    base = http.public_url or default_public_url(http.port, http.host)
    token = "set" if http.token else "not set"
    metrics = "bearer token" if http.token else "open"
    return (
        f"http: {http.host}:{http.port}, links {base}/media/<id>/<variant> valid "
        f"{http.link_ttl_hours:g} h; bearer token {token}; /healthz open, /metrics {metrics}"
    )


def _cmd_simulate_camera(args: argparse.Namespace) -> int:
    from .simulator.camera import Faults, SimulatedCamera, make_captures

    _setup_logging(args.log_level)
    faults = Faults(
        corrupt_rate=args.corrupt_rate,
        disconnect_after_packets=args.disconnect_after_packets,
        throttle=args.throttle,
        unavailable=args.unavailable,
        no_metadata=args.no_metadata,
    )
    files = make_captures(args.imei, photos=args.photos, videos=args.videos)
    cam = SimulatedCamera(
        args.host, args.port, args.imei, files, faults, args.protocol_id, args.seed
    )
    result = asyncio.run(cam.run())
    print(
        f"camera {args.imei}: {len(result.delivered)}/{len(files)} files delivered, "
        f"{result.connections} connections, {result.resumes} resumes, "
        f"{result.packets_sent} packets sent"
    )
    return 0 if len(result.delivered) == len(files) or args.unavailable else 1


def _cmd_simulate_tracker(args: argparse.Namespace) -> int:
    from .simulator.fleet import run_tracker_command

    _setup_logging(args.log_level)
    return run_tracker_command(args)


def _cmd_simulate_fleet(args: argparse.Namespace) -> int:
    from .simulator.fleet import run_fleet_command

    _setup_logging(args.log_level)
    return run_fleet_command(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _setup_logging(args.log_level)
    data_dir = Path(args.data_dir)
    with contextlib.suppress(KeyboardInterrupt):
        done = asyncio.run(
            run_demo(data_dir, args.cameras, args.photos, args.videos, keep_running=args.keep)
        )
        expected = args.cameras * (args.photos + args.videos)
        return 0 if len(done) == expected else 1
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    from .mqtt.listen import run_listen

    config = load(args.config)
    changes = {
        key: getattr(args, key)
        for key in ("host", "port", "topic_prefix")
        if getattr(args, key) is not None
    }
    mqtt = replace_checked(config.mqtt, "mqtt", **changes)
    print(
        f"listening on {mqtt.broker_host}:{mqtt.broker_port} "
        f"to {mqtt.topic_prefix}/# (Ctrl-C to stop)",
        file=sys.stderr,
    )
    run_listen(mqtt, args.topic)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualcam-bridge", description="Teltonika DualCam to disk, MQTT and Home Assistant"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bridge")
    run.add_argument("--config", "-c", help="YAML config file (default: built-in defaults)")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=_cmd_check_config)

    sim = sub.add_parser("simulate", help="simulated devices speaking the real protocols")
    simsub = sim.add_subparsers(dest="device", required=True)
    cam = simsub.add_parser("camera", help="a DualCam uploading photos and videos")
    cam.add_argument("--host", default="127.0.0.1")
    cam.add_argument("--port", type=int, default=5028)
    cam.add_argument("--imei", default="352094082736916")
    cam.add_argument("--photos", type=int, default=2)
    cam.add_argument("--videos", type=int, default=1)
    cam.add_argument("--corrupt-rate", type=float, default=0.0, help="share of damaged packets")
    cam.add_argument("--disconnect-after-packets", type=int, default=None, metavar="N")
    cam.add_argument("--throttle", type=float, default=None, metavar="BYTES_PER_S")
    cam.add_argument("--unavailable", action="store_true", help="answer FILE REQ with 0x11")
    cam.add_argument("--no-metadata", action="store_true", help="ignore metadata requests")
    cam.add_argument("--protocol-id", type=int, default=5)
    cam.add_argument("--seed", type=int, default=None)
    cam.add_argument("--log-level", default="warning")
    cam.set_defaults(func=_cmd_simulate_camera)

    from .simulator.fleet import add_fleet_arguments, add_tracker_arguments

    tracker = simsub.add_parser("tracker", help="an FMx125 tracker with a DualCam (AVL + commands)")
    add_tracker_arguments(tracker)
    tracker.set_defaults(func=_cmd_simulate_tracker)
    fleet = simsub.add_parser("fleet", help="N vehicles (tracker + DualCam) at once")
    add_fleet_arguments(fleet)
    fleet.set_defaults(func=_cmd_simulate_fleet)

    listen = sub.add_parser("listen", help="print the bridge's MQTT messages (debugging)")
    listen.add_argument("--config", "-c", help="the bridge's config (for its mqtt: section)")
    listen.add_argument("--host", default=None, help="broker (default: the config's, or local)")
    listen.add_argument("--port", type=int, default=None)
    listen.add_argument("--topic-prefix", dest="topic_prefix", default=None)
    listen.add_argument("--topic", default=None, help="topic filter (default: <prefix>/#)")
    listen.set_defaults(func=_cmd_listen)

    demo = sub.add_parser("demo", help="bridge + simulated cameras in one process")
    demo.add_argument("--data-dir", default="./dualcam-demo-data")
    demo.add_argument("--cameras", type=int, default=2)
    demo.add_argument("--photos", type=int, default=2)
    demo.add_argument("--videos", type=int, default=1)
    demo.add_argument("--keep", action="store_true", help="keep the bridge running afterwards")
    demo.add_argument("--log-level", default="warning")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dualcam-bridge`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
