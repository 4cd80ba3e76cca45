"""What persists in the data directory: job history, paths, logs, model weights."""
