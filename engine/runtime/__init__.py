"""The engine's I/O shell: the engine thread, its events, the single-instance socket and lock."""
