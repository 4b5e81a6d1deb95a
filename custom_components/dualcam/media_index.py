"""The photos and clips a bridge reported, kept in a Home Assistant Store per config entry.

The bridge keeps the files; Home Assistant keeps what its media events said (ids, capture
time, camera, kind, trigger, the bridge's signed links) so the media browser lists them after
a restart, and plays them through the integration's proxy view (media_proxy.py). A clip's
second event (``variant: browser``) is merged into the same item by id; QoS 1 may deliver an
event twice, which changes nothing.

Bounded: at most MAX_ITEMS items and MAX_AGE old (by receive time). An item that can no
longer be played (its bridge links expired, ``http.link_ttl_hours``, and no saved copy) is
dropped a day after it arrived; the day of grace keeps duplicates recognised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Final

import yarl
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import BRIDGE_MEDIA_URL, DOMAIN
from .models import LINK_FIELDS, MediaInfo

STORE_VERSION: Final = 1
MAX_ITEMS: Final = 3000
MAX_AGE: Final = timedelta(days=30)
UNPLAYABLE_GRACE: Final = timedelta(days=1)
PRUNE_INTERVAL: Final = timedelta(hours=1)
# Writes are batched: a burst of events is one write (and the final write at shutdown).
SAVE_DELAY: Final = 10

# Variants the proxy serves: the bridge's own, plus "best" (the browser MP4 when there is
# one, else the file), which a notification link uses because the browser MP4 comes later.
BEST: Final = "best"
PROXY_VARIANTS: Final = (*LINK_FIELDS, BEST)


def store_key(entry_id: str) -> str:
    """The Store file (``.storage/dualcam.media.<entry_id>``) of one config entry."""
    return f"{DOMAIN}.media.{entry_id}"


def proxy_path(entry_id: str, media_id: str, variant: str) -> str:
    """The proxy view's path for one variant of an item (needs a login or a signature)."""
    return f"{BRIDGE_MEDIA_URL}/{entry_id}/{media_id}/{variant}"


def link_expiry(link: str) -> datetime | None:
    """When a bridge link stops working (its ``exp``), None when it does not say."""
    exp = yarl.URL(link).query.get("exp", "")
    if not exp.isdecimal() or len(exp) > 12:
        return None
    return dt_util.utc_from_timestamp(int(exp))


class Change(Enum):
    """What an event changed in the index."""

    NONE = "none"  # a duplicate
    NEW = "new"  # a file not seen before
    BROWSER = "browser"  # a known clip's browser MP4 became available


@dataclass(slots=True)
class MediaItem:
    """One photo or clip as the bridge reported it, and its copy in Home Assistant if any."""

    id: str
    imei: str
    camera: str
    kind: str
    mime: str
    size: int
    sha256: str
    received_at: datetime
    captured_at: datetime | None
    duration_s: float | None
    trigger: str | None
    latitude: float | None
    longitude: float | None
    bridge_path: str | None
    # the bridge's signed links by variant (file, poster, thumbnail, browser)
    links: dict[str, str] = field(default_factory=dict)
    # the saved copy, relative to the media folder, and which variant it is
    local_path: str | None = None
    local_variant: str | None = None

    @property
    def taken_at(self) -> datetime:
        """Capture time (the file's metadata), else receive time."""
        return self.captured_at or self.received_at

    @property
    def day(self) -> str:
        """The local day the file was taken (the media browser's folder)."""
        return f"{dt_util.as_local(self.taken_at):%Y-%m-%d}"

    @property
    def crash(self) -> bool:
        """A crash clip (or photo): the file's trigger."""
        return self.trigger == "crash"

    def link(self, variant: str) -> str | None:
        """The bridge's link for a proxy variant."""
        if variant == BEST:
            return self.links.get("browser") or self.links.get("file")
        return self.links.get(variant)

    def link_valid(self, variant: str, now: datetime) -> bool:
        """There is a link for variant and it has not expired."""
        if (link := self.link(variant)) is None:
            return False
        expires = link_expiry(link)
        return expires is None or expires > now

    def mime_of(self, variant: str) -> str:
        """What a variant's bytes are."""
        if variant in ("poster", "thumbnail"):
            return "image/jpeg"
        if variant == "browser" or (variant == BEST and "browser" in self.links):
            return "video/mp4"
        return self.mime

    @classmethod
    def from_info(cls, imei: str, info: MediaInfo) -> MediaItem:
        """A new item from the first event of a file."""
        item = cls(
            id=info.id,
            imei=imei,
            camera=info.camera,
            kind=info.kind,
            mime=info.mime,
            size=info.size,
            sha256=info.sha256,
            received_at=info.received_at,
            captured_at=info.captured_at,
            duration_s=info.duration_s,
            trigger=info.trigger,
            latitude=info.latitude,
            longitude=info.longitude,
            bridge_path=info.path,
        )
        item.merge(info)
        return item

    def merge(self, info: MediaInfo) -> bool:
        """Take the links of another event of this file; True if the browser MP4 is new."""
        had_browser = "browser" in self.links
        for variant, field_name in LINK_FIELDS.items():
            if (link := getattr(info, field_name)) is not None:
                self.links[variant] = link  # a later event has fresher links
        # The browser event probes the clip's real length.
        if info.duration_s is not None:
            self.duration_s = info.duration_s
        return not had_browser and "browser" in self.links

    def to_json(self) -> dict[str, Any]:
        """As stored."""
        data = asdict(self)
        data["received_at"] = self.received_at.isoformat()
        data["captured_at"] = self.captured_at.isoformat() if self.captured_at else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MediaItem:
        """From the Store (written by to_json)."""
        values = dict(data)
        values["received_at"] = dt_util.parse_datetime(data["received_at"])
        if values["received_at"] is None:
            raise ValueError(f"bad stored media item {data!r}")
        captured = data.get("captured_at")
        values["captured_at"] = dt_util.parse_datetime(captured) if captured else None
        values["links"] = {
            k: v for k, v in dict(data.get("links") or {}).items() if k in LINK_FIELDS
        }
        return cls(**values)


class MediaIndex:
    """The media items of one bridge (config entry), by media id."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Empty until async_load."""
        self._store: Store[dict[str, Any]] = Store(hass, STORE_VERSION, store_key(entry_id))
        self._items: dict[str, MediaItem] = {}
        self._pruned_at = dt_util.utcnow()

    async def async_load(self) -> None:
        """Read the Store (a damaged item is skipped, not fatal)."""
        data = await self._store.async_load() or {}
        for raw in data.get("items", []):
            try:
                item = MediaItem.from_json(raw)
            except KeyError, TypeError, ValueError:
                continue
            self._items[item.id] = item
        self._prune(dt_util.utcnow())

    async def async_save(self) -> None:
        """Write now (on unload; cancels the batched write)."""
        await self._store.async_save(self._to_store())

    @callback
    def async_add(self, imei: str, info: MediaInfo) -> tuple[MediaItem, Change]:
        """Merge one media event; says what changed."""
        if (item := self._items.get(info.id)) is not None:
            change = Change.BROWSER if item.merge(info) else Change.NONE
            if change is Change.BROWSER:
                self.async_schedule_save()
            return item, change
        item = self._items[info.id] = MediaItem.from_info(imei, info)
        now = dt_util.utcnow()
        # Age and expiry checks read every item's links: hourly is enough; the cap is cheap.
        if len(self._items) > MAX_ITEMS or now - self._pruned_at > PRUNE_INTERVAL:
            self._prune(now, keep=item.id)
        self.async_schedule_save()
        return item, Change.NEW

    def get(self, media_id: str) -> MediaItem | None:
        """The item with this id."""
        return self._items.get(media_id)

    def __len__(self) -> int:
        """How many items are kept."""
        return len(self._items)

    def playable(self, now: datetime | None = None) -> Iterable[MediaItem]:
        """Items that can be played: a saved copy or a valid bridge link."""
        now = now or dt_util.utcnow()
        return (i for i in self._items.values() if i.local_path or i.link_valid(BEST, now))

    @callback
    def async_set_local(self, media_id: str, relative: str, variant: str) -> None:
        """Record a saved copy."""
        if (item := self._items.get(media_id)) is not None:
            item.local_path, item.local_variant = relative, variant
            self.async_schedule_save()

    @callback
    def async_schedule_save(self) -> None:
        """Write within SAVE_DELAY seconds (and at Home Assistant's final write)."""
        self._store.async_delay_save(self._to_store, SAVE_DELAY)

    def _to_store(self) -> dict[str, Any]:
        return {"items": [item.to_json() for item in self._items.values()]}

    def _prune(self, now: datetime, keep: str | None = None) -> None:
        self._pruned_at = now
        too_old = now - MAX_AGE
        for media_id, item in list(self._items.items()):
            if media_id == keep:
                continue
            unplayable = not item.local_path and not item.link_valid(BEST, now)
            if item.received_at < too_old or (
                unplayable and item.received_at < now - UNPLAYABLE_GRACE
            ):
                del self._items[media_id]
        if len(self._items) > MAX_ITEMS:
            # Newest first (the item just added always stays: its events refer to it).
            newest = sorted(
                self._items.values(), key=lambda i: (i.id == keep, i.received_at), reverse=True
            )
            self._items = {i.id: i for i in newest[:MAX_ITEMS]}
