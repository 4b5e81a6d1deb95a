"""SOS ↔ clip links: the video a crash (or DIN, or server request) SOS produced.

An SOS (AVL 499 value v) links to a video of the same IMEI whose metadata trigger is the
same cause (3 crash ↔ "crash", 1 ↔ "din1", 2 ↔ "din2", 0 ↔ "server_request") and whose time
falls in ``[sos - pre_roll, sos + window]``. The time is the camera's capture time when the
file had metadata (``pre_roll`` covers the seconds recorded before the trigger), else the time
the bridge received it, which also includes the upload (``upload_allowance`` more seconds:
6 MB over GPRS takes minutes). One clip per camera per SOS, one SOS per clip; the latest
SOS that fits wins. Either may arrive first: a clip is kept as a candidate until its SOS comes.
A link names the playable file (the MP4 when the video was remuxed, else the raw stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..events import SOS_TRIGGER_NAMES, MediaCompleted, SosClipLinked, SosTriggered
from .database import AvlDatabase, to_ms

_TRIGGER_VALUES = {name: value for value, name in SOS_TRIGGER_NAMES.items()}


@dataclass(frozen=True, slots=True)
class ClipLink:
    """One clip linked to an SOS."""

    sos_id: str
    imei: str
    media_id: str
    camera: str
    path: Path
    trigger: str


class SosClipLinker:
    """Stores SOS events and clip candidates and links them; answers "the clip for this SOS"."""

    def __init__(
        self,
        db: AvlDatabase,
        *,
        window: float = 120.0,
        pre_roll: float = 15.0,
        upload_allowance: float = 1800.0,
    ) -> None:
        self.db = db
        self.window_ms = int(window * 1000)
        self.pre_roll_ms = int(pre_roll * 1000)
        self.upload_ms = int(upload_allowance * 1000)

    def _span_ms(self, captured: bool) -> int:
        return self.window_ms + (0 if captured else self.upload_ms)

    def sos_recorded(self, sos: SosTriggered, received_at: datetime) -> list[SosClipLinked]:
        """Store an SOS (joins the caller's transaction) and link clips that are already here."""
        assert sos.id is not None
        ts = to_ms(sos.timestamp)
        pos = sos.position
        links: list[SosClipLinked] = []
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO sos VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    sos.id,
                    sos.imei,
                    sos.value,
                    ts,
                    to_ms(received_at),
                    pos.latitude if pos else None,
                    pos.longitude if pos else None,
                ),
            )
            rows = db.execute(
                "SELECT media_id, camera, path, at_ms, captured FROM clip_candidates c "
                "WHERE imei = ? AND value = ? AND at_ms BETWEEN ? AND ? "
                "AND NOT EXISTS (SELECT 1 FROM sos_clips l WHERE l.media_id = c.media_id) "
                "ORDER BY at_ms",
                (sos.imei, sos.value, ts - self.pre_roll_ms, ts + self._span_ms(False)),
            ).fetchall()
            for media_id, camera, path, at_ms, captured in rows:
                if at_ms > ts + self._span_ms(bool(captured)):
                    continue
                link = self._link(sos.id, sos.imei, media_id, camera, path, sos.trigger)
                if link is not None:
                    links.append(link)
        return links

    def media_completed(self, media: MediaCompleted) -> list[SosClipLinked]:
        """Remember a video that may belong to an SOS and link it to one if it fits."""
        value = _TRIGGER_VALUES.get(media.trigger or "")
        if media.kind != "video" or value is None:
            return []
        captured = media.captured_at is not None
        at = to_ms(media.captured_at or media.received_at)
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO clip_candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    media.id,
                    media.imei,
                    value,
                    media.camera,
                    str(media.payload_path),
                    at,
                    int(captured),
                    to_ms(media.received_at),
                ),
            )
            row = db.execute(
                "SELECT id FROM sos s WHERE imei = ? AND value = ? "
                "AND timestamp_ms BETWEEN ? AND ? "
                "AND NOT EXISTS (SELECT 1 FROM sos_clips l WHERE l.sos_id = s.id AND camera = ?) "
                "ORDER BY timestamp_ms DESC LIMIT 1",
                (
                    media.imei,
                    value,
                    at - self._span_ms(captured),
                    at + self.pre_roll_ms,
                    media.camera,
                ),
            ).fetchone()
            if row is None:
                return []
            link = self._link(
                row[0],
                media.imei,
                media.id,
                media.camera,
                str(media.payload_path),
                media.trigger or "",
            )
        return [link] if link else []

    def _link(
        self, sos_id: str, imei: str, media_id: str, camera: str, path: str, trigger: str
    ) -> SosClipLinked | None:
        cur = self.db.conn.execute(
            "INSERT OR IGNORE INTO sos_clips VALUES (?, ?, ?, ?, ?)",
            (sos_id, media_id, camera, path, to_ms(datetime.now(UTC))),
        )
        if cur.rowcount != 1:  # this camera of the SOS, or this clip, is linked already
            return None
        return SosClipLinked(imei, sos_id, media_id, camera, Path(path), trigger)  # type: ignore[arg-type]

    # ---- queries -----------------------------------------------------------------------------

    def find_clip_for_sos(self, sos_id: str, camera: str | None = None) -> ClipLink | None:
        """The clip of an SOS (the front one first unless ``camera`` says), or None yet."""
        clips = self.clips_for_sos(sos_id)
        if camera is not None:
            clips = [c for c in clips if c.camera == camera]
        return clips[0] if clips else None

    def clips_for_sos(self, sos_id: str) -> list[ClipLink]:
        """Every clip linked to an SOS, front before rear."""
        rows = self.db.conn.execute(
            "SELECT l.sos_id, s.imei, l.media_id, l.camera, l.path, s.value FROM sos_clips l "
            "JOIN sos s ON s.id = l.sos_id WHERE l.sos_id = ? ORDER BY l.camera",
            (sos_id,),
        ).fetchall()
        return [
            ClipLink(sid, imei, mid, cam, Path(path), SOS_TRIGGER_NAMES.get(value, str(value)))
            for sid, imei, mid, cam, path, value in rows
        ]
