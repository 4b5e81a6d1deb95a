"""The AVL side: tracker links, what their records mean, and the commands sent to them.

Owns ``data_dir/avl.sqlite3``. ``server`` runs one ``AvlLink`` per tracker socket around the
sans-IO ``protocol.codec8`` connection; ``tracker_state`` turns records into camera-state,
SOS and position events exactly once; ``sos_clips`` links an SOS to the clips that follow it
(a ``MediaCompleted`` subscriber on the bus); the command modules build Codec 12 texts,
queue them per tracker and parse the answers; ``router`` routes requests to the tracker's
link; ``service`` wires all of it for the app.
"""
