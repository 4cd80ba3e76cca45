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
