"""Username/password and TLS against a mosquitto configured like config/mosquitto.conf."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import aiomqtt
import pytest

from dualcam_bridge.config import TlsConfig
from dualcam_bridge.mqtt.client import tls_context

from .conftest import MOSQUITTO, MOSQUITTO_PASSWD, PASSWORD, USER, Broker, Pki, run_tool
from .contract import decode
from .helpers import IMEIS, Collector, Fleet, free_port, wait_until

P = "dualcam"


def secure_collector(port: int, ca: Path) -> Collector:
    """A subscriber that logs in over TLS like a Home Assistant would."""
    return Collector(
        port,
        f"{P}/#",
        username=USER,
        password=PASSWORD,
        tls_params=aiomqtt.TLSParameters(ca_certs=str(ca)),
    )


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_tls_with_password_delivers(
    secure_mosquitto, make_publisher, fleet: Fleet, protocol: str
) -> None:
    broker, pki = secure_mosquitto
    photo = fleet.photo(IMEIS[0])
    options = {"username": USER, "password": PASSWORD, "tls": {"ca_certs": str(pki.ca)}}
    async with (
        secure_collector(broker.port, pki.ca) as sub,
        make_publisher(broker.port, protocol=protocol, **options) as pub,
    ):
        await pub.handle_event(photo)
        await pub.flush(10)
        media = await sub.wait_count(f"{P}/{IMEIS[0]}/media", 1)
    assert decode(media[0])["id"] == photo.id
    assert sub.payloads(f"{P}/{IMEIS[0]}/camera/front/photo") == [photo.path.read_bytes()]


async def test_password_file_is_read(secure_mosquitto, make_publisher, tmp_path: Path) -> None:
    broker, pki = secure_mosquitto
    secret = tmp_path / "mqtt-password"
    secret.write_text(PASSWORD + "\n")  # as `echo` writes it
    options = {"username": USER, "password_file": str(secret), "tls": {"ca_certs": str(pki.ca)}}
    async with make_publisher(broker.port, **options) as pub:
        await pub.wait_connected(10)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_wrong_password_is_a_clear_error_and_retried(
    secure_mosquitto, make_publisher, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    broker, pki = secure_mosquitto
    caplog.set_level(logging.ERROR, logger="dualcam_bridge.mqtt")
    options = {"username": USER, "password": "wrong", "tls": {"ca_certs": str(pki.ca)}}
    async with make_publisher(broker.port, protocol=protocol, **options) as pub:
        await wait_until(lambda: pub.connection.failures >= 3, 10, "three refused logins")
        assert not pub.connected
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    login = [e for e in errors if "refused the login of user 'bridge'" in e]
    assert len(login) >= 3, errors
    assert "mqtt.password" in login[0]
    assert "retrying in" in login[0]


async def test_untrusted_broker_certificate_is_a_clear_error(
    secure_mosquitto, make_publisher, caplog: pytest.LogCaptureFixture
) -> None:
    broker, _ = secure_mosquitto
    caplog.set_level(logging.ERROR, logger="dualcam_bridge.mqtt")
    options = {"username": USER, "password": PASSWORD, "tls": {}}  # system CAs only
    async with make_publisher(broker.port, **options) as pub:
        await wait_until(lambda: pub.connection.failures >= 2, 10, "failed TLS handshakes")
        assert not pub.connected
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("TLS" in e and "mqtt.tls" in e and "CERTIFICATE_VERIFY_FAILED" in e for e in errors)


async def test_missing_ca_file_is_named(
    make_publisher, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.ERROR, logger="dualcam_bridge.mqtt")
    missing = tmp_path / "nope.crt"
    async with make_publisher(1, tls={"ca_certs": str(missing)}) as pub:
        await wait_until(lambda: pub.connection.failures >= 1, 5, "a failed attempt")
    assert any(
        f"mqtt.tls.ca_certs: cannot load {missing}" in r.getMessage() for r in caplog.records
    )


def test_insecure_skips_only_the_hostname_check(secure_mosquitto) -> None:
    _, pki = secure_mosquitto
    strict = tls_context(TlsConfig(ca_certs=str(pki.ca)))
    loose = tls_context(TlsConfig(ca_certs=str(pki.ca), insecure=True))
    assert strict.check_hostname and strict.verify_mode == ssl.CERT_REQUIRED
    assert not loose.check_hostname and loose.verify_mode == ssl.CERT_REQUIRED


EXAMPLE_CONF = Path(__file__).parents[3] / "config" / "mosquitto.conf"


def example_conf(workdir: Path, pki: Pki, tls_port: int, plain_port: int) -> list[str]:
    """config/mosquitto.conf with this machine's paths and free ports, plus its ACL file."""
    text = EXAMPLE_CONF.read_text()
    acl = [
        line.removeprefix("#   ") for line in text.split("/etc/mosquitto/acl —")[1].splitlines()[1:]
    ]
    (workdir / "acl").write_text("\n".join(acl) + "\n")
    passwd = workdir / "passwd"
    passwd.touch()
    for user in ("dualcam-bridge", "homeassistant"):
        run_tool(
            MOSQUITTO_PASSWD or "mosquitto_passwd", "-b", str(passwd), user, PASSWORD, cwd=workdir
        )
    replace = {
        "password_file": f"password_file {passwd}",
        "acl_file": f"acl_file {workdir / 'acl'}",
        "persistence_location": f"persistence_location {workdir}/",
        "log_dest": f"log_dest file {workdir / 'mosquitto.log'}",
        "listener 1883": f"listener {plain_port} 127.0.0.1",
        "listener 8883": f"listener {tls_port} 127.0.0.1",
        "cafile": f"cafile {pki.ca}",
        "certfile": f"certfile {pki.cert}",
        "keyfile": f"keyfile {pki.key}",
    }
    lines = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key = next((k for k in replace if line.startswith(k)), None)
        lines.append(replace[key] if key else line)
    return lines


async def test_example_mosquitto_conf_works(
    tmp_path: Path, pki: Pki, make_publisher, fleet: Fleet
) -> None:
    """config/mosquitto.conf as shipped (paths and ports swapped): the bridge and HA get on."""
    if MOSQUITTO is None or MOSQUITTO_PASSWD is None:
        pytest.skip("needs mosquitto and mosquitto_passwd")
    tls_port, plain_port = free_port(), free_port()
    conf = example_conf(tmp_path, pki, tls_port, plain_port)
    broker = Broker("mosquitto", tls_port, tmp_path, full_conf=conf)
    await broker.start()
    try:
        photo = fleet.photo(IMEIS[0])
        bridge = {"username": "dualcam-bridge", "password": PASSWORD}
        ha = Collector(
            tls_port,
            f"{P}/#",
            username="homeassistant",
            password=PASSWORD,
            tls_params=aiomqtt.TLSParameters(ca_certs=str(pki.ca)),
        )
        async with ha, make_publisher(tls_port, tls={"ca_certs": str(pki.ca)}, **bridge) as pub:
            await pub.handle_event(photo)
            await pub.flush(10)
            await ha.wait_count(f"{P}/{IMEIS[0]}/media", 1)
        # Anonymous clients are refused, even on the loopback listener.
        with pytest.raises(aiomqtt.MqttCodeError):
            async with aiomqtt.Client("127.0.0.1", plain_port):
                pass
    finally:
        await broker.stop()
