"""What AVL records mean for the bridge: camera state, SOS, position, SOS↔clip links."""
