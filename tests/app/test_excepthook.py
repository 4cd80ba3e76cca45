"""The GUI's safety net: an exception in a slot, an async slot, a thread or an asyncio callback
is logged, shown as one sentence (captured here instead of a modal dialog), and the studio
keeps running."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject, QTimer, Signal

from app.excepthook import ExceptionHandler, install_excepthook, sentence_for
from engine.errors import ErrorCode, MeshsmithError

# pytest-qt's own capture would turn these deliberate exceptions into test failures.
pytestmark = pytest.mark.qt_no_exception_capture

GENERIC = ("Something went wrong (ValueError: the slot broke); the studio keeps running and "
           "the details are in the log.")


class Emitter(QObject):
    fired = Signal()
    named = Signal(str)  # qasync's asyncSlot needs a signal with arguments


class Shown(list):
    """The sentences the handler showed, and the handler itself."""

    handler: ExceptionHandler


@pytest.fixture
def shown(qapp, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shown]:
    """Install the hook for one test (the previous hooks come back afterwards)."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    messages = Shown()
    messages.handler = install_excepthook(None, show=messages.append)
    assert sys.excepthook == messages.handler.handle
    assert threading.excepthook == messages.handler.handle_thread
    yield messages


def assert_one_sentence(message: str) -> None:
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message


def still_running(qtbot) -> None:
    """The event loop still delivers signals and timers after the failure."""
    emitter, seen = Emitter(), []
    emitter.fired.connect(lambda: seen.append("signal"))
    QTimer.singleShot(0, lambda: seen.append("timer"))
    emitter.fired.emit()
    qtbot.waitUntil(lambda: seen == ["signal", "timer"], timeout=2000)


def test_an_exception_in_a_slot_is_shown_logged_and_survived(qtbot, shown, caplog):
    emitter = Emitter()

    def broken_slot() -> None:
        raise ValueError("the slot broke")

    emitter.fired.connect(broken_slot)
    with caplog.at_level(logging.ERROR, logger="app.excepthook"):
        emitter.fired.emit()
        qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    assert shown == [GENERIC]
    assert_one_sentence(shown[0])
    (record,) = [r for r in caplog.records if r.name == "app.excepthook"]
    assert "the slot broke" in record.getMessage() and "broken_slot" in record.getMessage()
    still_running(qtbot)
    emitter.fired.emit()  # and it happens again: once more, one sentence
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=2000)


def test_a_meshsmith_error_shows_its_own_sentence(qtbot, shown):
    emitter = Emitter()

    def refuse() -> None:
        raise MeshsmithError(ErrorCode.INVALID_INPUT, "notes.txt is not a mesh or image.")

    emitter.fired.connect(refuse)
    emitter.fired.emit()
    qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    assert shown == ["notes.txt is not a mesh or image."]


def test_the_dialog_opens_after_the_slot_has_unwound(qtbot, shown):
    emitter, order = Emitter(), []

    def broken_slot() -> None:
        order.append("slot")
        raise ValueError("the slot broke")

    emitter.fired.connect(broken_slot)
    shown.handler._show = lambda message: order.append("dialog")
    emitter.fired.emit()
    order.append("after emit")
    qtbot.waitUntil(lambda: "dialog" in order, timeout=2000)
    assert order == ["slot", "after emit", "dialog"]


def test_an_exception_in_another_thread_reaches_the_gui_thread(qtbot, shown, caplog):
    main_thread, shown_on = threading.current_thread(), []
    shown.handler._show = lambda m: (shown.append(m),
                                     shown_on.append(threading.current_thread()))

    def work() -> None:
        raise ValueError("the slot broke")

    with caplog.at_level(logging.ERROR, logger="app.excepthook"):
        thread = threading.Thread(target=work, name="loader")
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    assert shown == [GENERIC] and shown_on == [main_thread]
    assert any("the slot broke" in r.getMessage() for r in caplog.records)
    still_running(qtbot)


def test_an_asyncio_callback_and_an_async_slot_on_the_qasync_loop(qtbot, qapp, shown, caplog):
    qasync = pytest.importorskip("qasync")
    loop = qasync.QEventLoop(qapp, already_running=False)
    loop.set_exception_handler(shown.handler.handle_loop)  # what app/studio.py does

    def callback() -> None:
        raise ValueError("the slot broke")

    emitter = Emitter()

    @qasync.asyncSlot(str)
    async def async_slot(name: str) -> None:
        await asyncio.sleep(0)
        raise MeshsmithError(ErrorCode.ADAPTER_FAILED, f"The async slot {name} failed.")

    emitter.named.connect(async_slot)
    try:
        with caplog.at_level(logging.ERROR, logger="app.excepthook"):
            loop.call_soon(callback)
            loop.call_soon(emitter.named.emit, "open")
            loop.run_until_complete(asyncio.sleep(0.2))
            qtbot.waitUntil(lambda: len(shown) == 2, timeout=2000)
    finally:
        loop.close()
    assert sorted(shown) == sorted([GENERIC, "The async slot open failed."])
    assert len([r for r in caplog.records if r.name == "app.excepthook"]) == 2
    still_running(qtbot)


def test_a_loop_error_without_an_exception_still_becomes_a_sentence(qtbot, shown):
    loop = asyncio.new_event_loop()
    try:
        shown.handler.handle_loop(loop, {"message": "Task was destroyed"})
    finally:
        loop.close()
    qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    assert shown == ["Something went wrong (RuntimeError: Task was destroyed); the studio keeps "
                     "running and the details are in the log."]


def test_keyboard_interrupt_is_left_to_python(qtbot, shown, monkeypatch):
    passed_on = []
    monkeypatch.setattr(sys, "__excepthook__", lambda *args: passed_on.append(args[0]))
    shown.handler.handle(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert passed_on == [KeyboardInterrupt]
    qtbot.wait(50)
    assert shown == []


@pytest.mark.parametrize("exc, sentence", [
    (ValueError(""), "Something went wrong (ValueError); the studio keeps running and the "
                     "details are in the log."),
    (RuntimeError("first line.\nsecond line"), "Something went wrong (RuntimeError: first "
                                                 "line); the studio keeps running and the "
                                                 "details are in the log."),
    (MeshsmithError(ErrorCode.TIMEOUT, "It took too long."), "It took too long."),
])
def test_sentence_for(exc, sentence):
    assert sentence_for(exc) == sentence
    assert_one_sentence(sentence)


def test_the_default_shows_a_warning_dialog(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    seen = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: seen.append(
        (parent, title, text)))
    handler = ExceptionHandler(None)
    handler.handle(ValueError, ValueError("the slot broke"), None)
    qtbot.waitUntil(lambda: bool(seen), timeout=2000)
    assert seen == [(None, "Meshsmith", GENERIC)] and handler.shown == [GENERIC]
