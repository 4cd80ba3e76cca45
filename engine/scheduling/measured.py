"""What NVML measured, applied to the scheduler's memory bookkeeping (pure).

With per-process figures (``DevicesMeasured.worker_mb``, by worker PID) the memory of other
programs is the card's use minus what our own processes hold, whatever our bookkeeping says
and in whichever order a job's end and the measurement arrive: a finished worker's cache is
never booked as someone else's. An idle worker's figure is its true resident size (workers
empty the CUDA cache after every job); a busy one's is a peak candidate for its adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.scheduling.vocabulary import DevicesMeasured

if TYPE_CHECKING:
    from engine.scheduling.scheduler import Scheduler


def apply(s: Scheduler, ev: DevicesMeasured) -> None:
    ours = {**s.evicting, **s.workers}
    for worker_id, mb in ev.worker_mb.items():
        worker = ours.get(worker_id)
        if worker is None or worker.device == "cpu":
            continue
        if worker.busy_job is None:
            worker.resident_mb = mb
        adapter = worker.adapter
        s.observed_peak_mb[adapter] = max(s.observed_peak_mb.get(adapter, 0), mb)
    for device, used in ev.used_mb.items():
        if device not in s.devices:
            continue
        if ev.worker_mb:
            mine = sum(ev.worker_mb.get(w.worker_id, 0) for w in ours.values()
                       if w.device == device)
        else:  # no per-process figures: what our bookkeeping says we hold
            mine = s.devices[device].total_mb - s.external_mb[device] - s.free_mb(device)
        s.external_mb[device] = max(0, used - mine)
