"""Fixtures for the Qt front end's tests.

``viewport_check_gc`` copies the idea of pyvistaqt's ``check_gc``: a test that leaves a
``QtInteractor`` alive (never closed, or still referenced) fails, because a leaked interactor
keeps an OpenGL context whose late finalization crashes some later, unrelated test.

``qasync_loop`` gives every test that uses ``qtbot`` the studio's asyncio loop: a
``qasync.QEventLoop`` on the test's QApplication, marked running, so the view models' ``async``
slots run their tasks whenever pytest-qt spins Qt (``qtbot.waitUntil``/``waitSignal``), exactly
as they do under ``app.exec()`` in the studio.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest


def alive_interactors() -> list[Any]:
    """Every pyvistaqt ``QtInteractor`` Python still holds, after deferred deletes and a GC."""
    from PySide6.QtCore import QCoreApplication, QEvent  # lazily: plain tests stay Qt-free
    from pyvistaqt import QtInteractor

    if QCoreApplication.instance() is not None:
        # qtbot closes widgets with deleteLater(); processEvents() alone does not delete them
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    # by type, not isinstance: a weakref.proxy to an interactor (pyvista keeps several)
    # passes isinstance and is no interactor of its own
    return [obj for obj in gc.get_objects() if issubclass(type(obj), QtInteractor)]


def _describe(interactor: Any) -> str:
    """Who still holds it: attribute names and the objects owning them, for the message."""
    holders = []
    for ref in gc.get_referrers(interactor):
        if isinstance(ref, dict):
            owners = [type(o).__name__ for o in gc.get_referrers(ref)
                      if getattr(o, "__dict__", None) is ref]
            names = [k for k, v in ref.items() if v is interactor][:3]
            holders.append(f"{owners or ['dict']}{names}")
        elif not isinstance(ref, list):  # the list is gc.get_objects()' own answer
            holders.append(type(ref).__name__)
    state = "closed" if getattr(interactor, "_closed", True) else "NOT closed"
    return f"QtInteractor at {id(interactor):#x} ({state}), held by {holders}"


@pytest.fixture
def viewport_check_gc(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test if it leaves a QtInteractor alive. List it before ``qtbot`` (or use
    ``pytest.mark.usefixtures``) so it checks after qtbot has closed the test's widgets."""
    before = {id(obj) for obj in alive_interactors()}
    yield
    # the other fixtures are torn down by now, but pytest holds their values until the end
    request.node.funcargs.clear()
    leaked = [obj for obj in alive_interactors() if id(obj) not in before]
    messages = [_describe(obj) for obj in leaked]
    for obj in leaked:  # close them anyway, so the next test starts clean
        try:
            obj.close()
        except RuntimeError:  # its C++ half is already gone; only the wrapper leaked
            pass
    del leaked
    assert not messages, "QtInteractor left alive:\n" + "\n".join(messages)


@pytest.fixture(autouse=True)
def qasync_loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop | None]:
    """The studio's asyncio loop for Qt tests (those that use ``qtbot``); None elsewhere."""
    if "qtbot" not in request.fixturenames:
        yield None
        return
    from app import async_loop  # lazily: plain tests stay Qt-free

    app = request.getfixturevalue("qapp")
    loop = async_loop.attach(app)
    try:
        yield loop
    finally:
        async_loop.detach(loop, app)  # a flow the test left waiting ends with the test
