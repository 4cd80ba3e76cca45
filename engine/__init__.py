"""Meshsmith engine: jobs, scheduling, worker processes, storage. Pure Python, no Qt."""
