"""The camera side: the DualCam file-transfer server and the durable media store it feeds.

Owns ``data_dir``'s ``spool/``, ``failed/``, ``media/`` and ``index.sqlite3``. ``server`` runs
one ``CameraConnection`` per camera socket around the sans-IO ``protocol.filetransfer``
session; ``store`` turns a complete spool into an indexed media file (in one worker thread,
never on the event loop); ``spool`` is the resume state; ``remux`` makes MP4s with ffmpeg;
``derivatives`` (with ``ffmpeg_jobs``) makes posters, thumbnails and browser H.264 MP4s in a
bounded queue at the lowest priority; ``retention`` deletes what the limits exclude. A stored
file leaves as a ``MediaCompleted`` event on the bridge's bus, its browser MP4 as a
``MediaVariantReady``.
"""
