"""The Lovelace dashboard shown in docs/ha-dashboard.png, built from the vehicles' entities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

URL_PATH = "dashboard-dualcam"  # HA wants a hyphen in a dashboard's URL
VIEW_PATH = "fleet"
TITLE = "DualCam"


@dataclass
class VehicleEntities:
    """A vehicle's device and its entities by description key (`front_camera`, `sos`, …)."""

    name: str
    imei: str
    device_id: str
    entities: dict[str, str]


def _tile(entity: str, **extra: Any) -> dict[str, Any]:
    return {"type": "tile", "entity": entity, **extra}


def vehicle_section(vehicle: VehicleEntities) -> dict[str, Any]:
    """Both cameras' latest photos, the camera states, SOS, position and link state."""
    e = vehicle.entities
    cards: list[dict[str, Any]] = [
        {"type": "heading", "heading": vehicle.name, "icon": "mdi:van-utility"},
    ]
    for cam in ("front", "rear"):
        if f"{cam}_camera" in e:
            cards.append(
                {
                    "type": "picture-entity",
                    "entity": e[f"{cam}_camera"],
                    "name": f"{cam.capitalize()} camera",
                    "show_state": False,
                    "camera_view": "auto",
                    "grid_options": {"columns": 12},
                }
            )
    # Names without the vehicle's, which the heading shows; the states get a full row.
    tiles = (
        ("front_camera_state", "Front camera state", 12, {}),
        ("rear_camera_state", "Rear camera state", 12, {}),
        ("sos", "SOS", 6, {"state_content": "event_type"}),
        ("location", "Position", 6, {}),
        ("connection", "Tracker", 6, {}),
        ("last_media", "Last media", 6, {}),
    )
    for key, name, columns, extra in tiles:
        if key in e:
            cards.append(_tile(e[key], name=name, grid_options={"columns": columns}, **extra))
    return {"type": "grid", "cards": cards}


def position_section(vehicles: list[VehicleEntities]) -> dict[str, Any]:
    """Where the vehicles are: zone, coordinates, speed, satellites.

    No map card: its tiles come from a CDN, so offline it is an empty grey box.
    """
    attributes = (
        ("latitude", "Latitude", "mdi:latitude", None),
        ("longitude", "Longitude", "mdi:longitude", None),
        ("speed", "Speed", "mdi:speedometer", "km/h"),
        ("satellites", "Satellites", "mdi:satellite-variant", None),
    )
    rows: list[dict[str, Any]] = []
    for v in vehicles:
        if (tracker := v.entities.get("location")) is None:
            continue
        rows.append({"entity": tracker, "name": v.name})
        for attribute, name, icon, suffix in attributes:
            row = {"type": "attribute", "entity": tracker, "attribute": attribute}
            row |= {"name": name, "icon": icon} | ({"suffix": suffix} if suffix else {})
            rows.append(row)
    return {
        "type": "grid",
        "cards": [
            {"type": "heading", "heading": "Positions", "icon": "mdi:map-marker"},
            {"type": "entities", "entities": rows, "state_color": True},
        ],
    }


def dashboard_config(vehicles: list[VehicleEntities]) -> dict[str, Any]:
    """One sections view: a section per vehicle, then the positions."""
    return {
        "title": TITLE,
        "views": [
            {
                "title": "Fleet",
                "path": VIEW_PATH,
                "type": "sections",
                "max_columns": 3,
                "sections": [
                    *(vehicle_section(v) for v in vehicles),
                    position_section(vehicles),
                ],
            }
        ],
    }
