"""The adapter contract the engine owns: the protocol adapters implement and the spec/registry types."""
