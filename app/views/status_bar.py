"""The status bar: one VRAM bar per GPU (NVML), or "CPU only"."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from engine.workers.devices import DeviceMemory, Devices

REFRESH_MS = 3000


class StudioStatusBar(QStatusBar):
    def __init__(self, devices: Devices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.devices = devices
        self.bars: dict[str, QProgressBar] = {}
        self.cpu_label = QLabel("CPU only", objectName="cpuOnlyLabel")
        self.jobs_label = QLabel("No jobs running", objectName="jobsLabel")
        self.addPermanentWidget(self.jobs_label)
        memory = devices.measure()
        if not memory:
            self.addPermanentWidget(self.cpu_label)
            return
        for gpu in memory:
            bar = QProgressBar(objectName=f"vram_{gpu.device}")
            bar.setMaximumWidth(180)
            self.bars[gpu.device] = bar
            self.addPermanentWidget(bar)
        self.show_memory(memory)
        # GPU memory also changes through other programs; a slow redraw is all a bar needs.
        self._timer = QTimer(self, interval=REFRESH_MS, timeout=self.refresh)
        self._timer.start()

    def refresh(self) -> None:
        self.show_memory(self.devices.measure())

    def show_memory(self, memory: list[DeviceMemory]) -> None:
        for gpu in memory:
            bar = self.bars.get(gpu.device)
            if bar is None:
                continue
            bar.setRange(0, max(1, gpu.total_mb))
            bar.setValue(gpu.used_mb)
            bar.setFormat(f"GPU {gpu.device.split(':')[-1]}: "
                          f"{gpu.used_mb / 1000:.1f} / {gpu.total_mb / 1000:.0f} GB")
            bar.setToolTip(gpu.name)

    def show_active_jobs(self, count: int) -> None:
        self.jobs_label.setText(f"{count} job{'s' if count != 1 else ''} active" if count
                                else "No jobs running")
