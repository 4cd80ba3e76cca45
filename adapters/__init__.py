"""Adapters: one module per model or algorithm, behind one protocol. Pure Python, no Qt."""
