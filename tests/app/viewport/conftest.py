"""Fixtures the viewport tests share: the meshes they draw (``meshes``), a view model and a
shown view, each closed after its test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.viewport.meshes import (
    write_box_sphere_glb,
    write_million_face_glb,
    write_showcase_glb,
    write_skinned_cylinder_glb,
)


@pytest.fixture
def showcase_glb(tmp_path: Path) -> Path:
    return write_showcase_glb(tmp_path / "showcase.glb")


@pytest.fixture
def box_sphere_glb(tmp_path: Path) -> Path:
    return write_box_sphere_glb(tmp_path / "box_sphere.glb")


@pytest.fixture
def skinned_cylinder_glb(tmp_path: Path) -> Path:
    return write_skinned_cylinder_glb(tmp_path / "skinned.glb")


@pytest.fixture(scope="module")
def million_face_glb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_million_face_glb(tmp_path_factory.mktemp("big") / "million.glb")


# faces the renderer draws in its measured 0.1 s frame: llvmpipe on a loaded machine, where
# about 20k faces fit a moving 33 ms frame (the ~12k motion level does, the ~42k preview not)
SLOW_RENDERER_FACES = 60_000


@pytest.fixture
def slow_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The view measures its renderer, and on a quiet machine a heavy mesh's preview, even
    its full level, may fit the frame budget (then the view draws it and nothing switches).
    Tests about the switch cap the measure at a renderer too slow for the preview, whatever
    this machine draws."""
    from app.viewmodels.viewport_viewmodel import ViewportViewModel

    measured = ViewportViewModel.set_face_budget
    monkeypatch.setattr(ViewportViewModel, "set_face_budget",
                        lambda vm, faces: measured(vm, min(int(faces), SLOW_RENDERER_FACES)))


@pytest.fixture
def view_model(qtbot) -> Iterator[object]:
    from app.viewmodels.viewport_viewmodel import ViewportViewModel

    vm = ViewportViewModel()
    yield vm
    vm.shutdown()


@pytest.fixture
def view(qtbot) -> Iterator[object]:
    """A shown 640 × 480 viewport, shut down after the test (safe if the test did)."""
    from app.views.viewport import ViewportView

    widget = ViewportView()
    qtbot.addWidget(widget)
    widget.resize(640, 480)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()
