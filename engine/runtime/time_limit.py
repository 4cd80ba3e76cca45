"""Every job has a time limit: the artist's own (JobSpec.timeout_s), or its adapter's
(AdapterSpec.timeout_s) scaled by the size of its inputs, so a big input gets more time but
no input runs for ever (a 200,000-node scene once held xatlas at 10 % for over 6 minutes)."""

from __future__ import annotations

import os

from engine.jobs import JobSpec

REFERENCE_BYTES = 16 * 1024**2  # an adapter's own limit covers inputs up to this size
MAX_SCALE = 8.0  # and grows with the input up to this many times


def job_time_limit(adapter_timeout_s: float, spec: JobSpec) -> float:
    if spec.timeout_s is not None:
        return float(spec.timeout_s)
    size = 0
    for path in spec.inputs:
        try:
            size += os.path.getsize(path)
        except OSError:
            continue  # the worker will say the input is missing
    return adapter_timeout_s * min(MAX_SCALE, max(1.0, size / REFERENCE_BYTES))
