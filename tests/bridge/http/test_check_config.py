"""``dualcam-bridge check-config`` shows the http section as the bridge will apply it."""

from __future__ import annotations

from pathlib import Path

from ..test_bridge_process import run_cli


def test_check_config_shows_the_http_section(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(
        "http:\n  port: 8080\n  public_url: https://cams.example.com/\n"
        "  link_ttl_hours: 24\n  token: 0123456789abcdef0123\n"
    )
    res = run_cli("check-config", str(config))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[1] == (
        "http: 0.0.0.0:8080, links https://cams.example.com/media/<id>/<variant> valid 24 h;"
        " bearer token set; /healthz open, /metrics bearer token"
    )
    assert "0123456789abcdef0123" not in res.stdout  # the token itself is never printed

    config.write_text("http:\n  enabled: false\n")
    res = run_cli("check-config", str(config))
    assert res.stdout.splitlines()[1] == "http: disabled (media events carry no URLs)"

    config.write_text("http:\n  token: short\n")
    res = run_cli("check-config", str(config))
    assert res.returncode == 2 and "http.token" in res.stderr
