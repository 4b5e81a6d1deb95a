"""HTTP benchmark: media download throughput vs a bare aiohttp static server; H.264 cost.

1. The bridge runs as its own process (``dualcam-bridge run``, HTTP on a loopback port).
   Simulated cameras upload ``--files`` clips of about ``--clip-mb`` MB over the real protocol;
   then ``--clients`` parallel clients download every file ``--rounds`` times through signed
   links (HMAC check, index lookup, sendfile). The baseline is a bare aiohttp static-file
   server in its own process serving the same files by path (sendfile, nothing else). Same
   client, same files, one run: the ratio is the cost of the bridge's service.
2. The browser variant's cost: the bridge's own H.264 job (the command the media workers
   run, at nice 19) on a 720p clip of ``--h264-seconds`` seconds, in CPU seconds per second
   of clip (user + system of the ffmpeg child).

    .venv/bin/python bench/http.py --clients 20 --files 20 --clip-mb 4 --rounds 20
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file (http.py) would
# shadow the standard library's http package that aiohttp imports.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402

import aiohttp  # noqa: E402
import yaml  # noqa: E402

from dualcam_bridge.camera.ffmpeg_jobs import browser_args, clip_input  # noqa: E402
from dualcam_bridge.http.links import LinkSigner, load_or_create_secret  # noqa: E402
from dualcam_bridge.simulator import media  # noqa: E402
from dualcam_bridge.simulator.camera import SimFile, SimulatedCamera, make_captures  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_ingest", _HERE / "ingest.py")
assert _spec is not None and _spec.loader is not None
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)
cpu_seconds, free_port, wait_port = ingest.cpu_seconds, ingest.free_port, ingest.wait_port

BASELINE_SERVER = """
import sys
from aiohttp import web
app = web.Application()
app.router.add_static("/media", sys.argv[2])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def make_files(cameras: int, files: int, clip_mb: float) -> dict[str, list[SimFile]]:
    """``files`` clips spread over ``cameras`` cameras, each about ``clip_mb`` MB."""
    fleet: dict[str, list[SimFile]] = {}
    per_camera = max(1, files // cameras)
    for n in range(cameras):
        imei = str(352094082710000 + n)
        out = []
        for f in make_captures(imei, 0, per_camera, cameras=("front", "rear")):
            clip = media.video("front" if f.file_id.endswith("f") else "rear", f"{imei}{len(out)}")
            repeat = max(1, round(clip_mb * 1e6 / len(clip)))
            out.append(SimFile(f.file_id, clip * repeat, f.metadata))
        fleet[imei] = out
    return fleet


async def download_all(urls: list[str], clients: int, rounds: int) -> tuple[int, float]:
    """Every URL ``rounds`` times over ``clients`` parallel connections: (bytes, seconds)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for _ in range(rounds):
        for url in urls:
            queue.put_nowait(url)
    total = 0

    async def client() -> None:
        nonlocal total
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            while not queue.empty():
                url = queue.get_nowait()
                async with session.get(url) as resp:
                    resp.raise_for_status()
                    async for chunk in resp.content.iter_chunked(1 << 20):
                        total += len(chunk)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return total, time.perf_counter() - t0


async def bench_downloads(args: argparse.Namespace, workdir: Path) -> None:
    camera_port, http_port = free_port(), free_port()
    data = workdir / "data"
    cfg = {
        "data_dir": str(data),
        "log_level": "warning",
        "camera": {"host": "127.0.0.1", "port": camera_port, "idle_timeout": 600},
        "media": {"remux_mp4": False, "browser_mp4": "never"},
        "avl": {"enabled": False},
        "mqtt": {"enabled": False},
        "http": {
            "host": "127.0.0.1",
            "port": http_port,
            "public_url": f"http://127.0.0.1:{http_port}",
        },
    }
    (workdir / "bridge.yaml").write_text(yaml.safe_dump(cfg))
    config = str(workdir / "bridge.yaml")
    run = [sys.executable, "-m", "dualcam_bridge.cli", "run", "--config", config]
    bridge = subprocess.Popen(run)
    try:
        await wait_port(camera_port, bridge)
        await wait_port(http_port, bridge)
        fleet = make_files(min(args.clients, args.files), args.files, args.clip_mb)
        cams = [SimulatedCamera("127.0.0.1", camera_port, imei, fs) for imei, fs in fleet.items()]
        await asyncio.gather(*(c.run() for c in cams))
        with sqlite3.connect(data / "index.sqlite3") as db:
            rows = db.execute("SELECT id, path, size FROM media").fetchall()
        signer = LinkSigner(
            load_or_create_secret(data), f"http://127.0.0.1:{http_port}", timedelta(hours=1)
        )
        bridge_urls = [signer.url(mid, "file") for mid, _, _ in rows]
        size = sum(r[2] for r in rows)
        print(f"files: {len(rows)}, {size / 1e6:.1f} MB in all; {args.clients} clients, "
              f"{args.rounds} rounds")  # fmt: skip
        cpu0 = cpu_seconds(bridge.pid)
        got, secs = await download_all(bridge_urls, args.clients, args.rounds)
        bridge_cpu = cpu_seconds(bridge.pid) - cpu0
        assert got == size * args.rounds, (got, size * args.rounds)
    finally:
        bridge.terminate()
        bridge.wait()

    base_port = free_port()
    media_dir = data / "media"
    base = subprocess.Popen([sys.executable, "-c", BASELINE_SERVER, str(base_port), str(media_dir)])
    try:
        await wait_port(base_port, base)
        base_urls = [
            f"http://127.0.0.1:{base_port}/media/{Path(p).relative_to(media_dir)}"
            for _, p, _ in rows
        ]
        cpu0 = cpu_seconds(base.pid)
        base_got, base_secs = await download_all(base_urls, args.clients, args.rounds)
        base_cpu = cpu_seconds(base.pid) - cpu0
        assert base_got == got
    finally:
        base.terminate()
        base.wait()

    mbps, base_mbps = got / secs / 1e6, base_got / base_secs / 1e6
    print(f"bridge  : {mbps:8.1f} MB/s  ({secs:.2f} s, server CPU {bridge_cpu:.2f} s)")
    print(f"baseline: {base_mbps:8.1f} MB/s  ({base_secs:.2f} s, server CPU {base_cpu:.2f} s)")
    print(f"ratio bridge/baseline: {mbps / base_mbps:.2f}")


def bench_h264(seconds: float, workdir: Path) -> None:
    """CPU seconds per second of 720p clip for the bridge's H.264 job."""
    # A 720p, 25 fps H.265 stream of the wanted length: the sample clip repeated.
    sample = media.sample("front.h265")
    raw = workdir / "clip.h265"
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-f", "hevc", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", "-"],
        input=sample, capture_output=True, check=True,
    )  # fmt: skip
    width, height, frames = (int(x) for x in probe.stdout.decode().strip().split(","))
    repeat = max(1, round(seconds * 25 / frames))
    raw.write_bytes(sample * repeat)
    clip_seconds = frames * repeat / 25
    out = workdir / "clip.browser.mp4"
    cmd = browser_args("ffmpeg", clip_input(raw, 25), out)  # the media workers' own job
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, preexec_fn=lambda: os.nice(19))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"H.264 of a {width}x{height} clip of {clip_seconds:.1f} s: {cpu:.2f} s CPU, "
          f"{wall:.2f} s wall → {cpu / clip_seconds:.2f} CPU-s per clip second, "
          f"{out.stat().st_size / 1e6:.2f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--clip-mb", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--h264-seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="dualcam-bench-http-") as tmp:
        asyncio.run(bench_downloads(args, Path(tmp)))
        bench_h264(args.h264_seconds, Path(tmp))


if __name__ == "__main__":
    main()
