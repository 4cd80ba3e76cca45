"""Where adapters run: local worker processes, the Ray backend, devices and result building."""
