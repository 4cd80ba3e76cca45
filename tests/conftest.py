"""Shared fixtures: a temporary data directory for every test, meshes the tests make."""

from __future__ import annotations

import importlib.util
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import trimesh

from adapters.registry import SPECS
from engine.contract.spec import Registry
from engine.runtime.engine import Engine
from engine.storage.paths import DataDir
from tests.engine.fake_adapters import sleepy_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def terminal_ctrl_c() -> None:
    """The signal tests play a terminal's Ctrl+C. A test run that a non-interactive shell
    started in the background inherits SIGINT ignored, and hands that on to every process it
    starts (an ignored signal survives exec): give the run the terminal's default instead."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def meshsmith_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("MESHSMITH_HOME", str(home))
    return home


@pytest.fixture
def data_dir(meshsmith_home: Path) -> DataDir:
    return DataDir(meshsmith_home).ensure()


def fakes_registry() -> Registry:
    """The real adapters plus fake ones that sleep, fail, crash or ignore cancel."""
    return Registry([
        *SPECS,
        sleepy_spec(),
        sleepy_spec("part_completion", "sleepy_parts"),
        sleepy_spec("auto_rig", "quick_timeout", timeout_s=1.0),
        sleepy_spec("text_to_raw_mesh", "broken_load", entry="BrokenLoadAdapter"),
    ])


@pytest.fixture
def test_registry() -> Registry:
    return fakes_registry()


def _running(data: DataDir, registry: Registry) -> Iterator[Engine]:
    eng = Engine(data, registry=registry, cancel_grace_s=1.0).start()
    try:
        yield eng
    finally:
        eng.shutdown()


@pytest.fixture
def engine(data_dir: DataDir, test_registry: Registry) -> Iterator[Engine]:
    yield from _running(data_dir, test_registry)


@pytest.fixture
def fresh_engine(data_dir: DataDir, test_registry: Registry) -> Iterator[Engine]:
    """The plain ``engine`` under another name, for a module whose ``engine`` is the shared
    one (``warm_engine``) but where a test needs workers of its own, started now."""
    yield from _running(data_dir, test_registry)


@pytest.fixture(scope="module")
def module_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One engine for a module's jobs: its warm workers serve them all, as the studio's do
    (a fresh worker imports its libraries again, and closing one takes seconds). Only for
    tests that submit and look at their own jobs, and change no setting the workers read
    (their environment is the first test's)."""
    yield from _running(DataDir(tmp_path_factory.mktemp("module-home")).ensure(),
                        fakes_registry())


@pytest.fixture
def warm_engine(module_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The module's shared engine; what a test subscribes to it goes when the test ends."""
    added = []
    subscribe = module_engine.subscribe

    def tracked(callback) -> None:
        added.append(callback)
        subscribe(callback)

    monkeypatch.setattr(module_engine, "subscribe", tracked)
    yield module_engine
    for callback in added:
        module_engine.unsubscribe(callback)


@pytest.fixture
def box_obj(tmp_path: Path) -> Path:
    path = tmp_path / "box.obj"
    trimesh.creation.box(extents=(2.0, 1.0, 0.5)).export(path)
    return path


@pytest.fixture
def sphere_ply(tmp_path: Path) -> Path:
    path = tmp_path / "sphere.ply"
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=3.0)
    mesh.apply_translation((10.0, -2.0, 5.0))
    mesh.export(path)
    return path


def pyvista_example(name: str) -> Path:
    """A mesh bundled with pyvista, found without importing pyvista (and VTK)."""
    spec = importlib.util.find_spec("pyvista")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pyvista is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "examples" / name
    assert path.exists(), f"pyvista no longer ships {name}"
    return path
