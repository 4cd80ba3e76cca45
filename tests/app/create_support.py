"""Choosing what the Create panel runs, as the artist does, for the tests that press Run."""

from __future__ import annotations

from pathlib import Path

from app.viewmodels.create_viewmodel import CreateViewModel


def choose(qtbot, vm: CreateViewModel, feature: str, adapter: str, source: Path,
           **params: object) -> None:
    """Pick ``feature`` and ``adapter``, take ``source`` as the input (staged, waited for),
    then set ``params``."""
    vm.set_feature(feature)
    vm.set_adapter(adapter)
    with qtbot.waitSignal(vm.input_changed, timeout=30_000):
        vm.set_input_source(str(source))
    for name, value in params.items():
        vm.set_param(name, value)
