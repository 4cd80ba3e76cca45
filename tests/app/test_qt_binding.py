"""The Qt binding keeps Python's reference counts straight.

PySide6 6.12.0 under Python 3.11 (where None, True and False are not yet immortal) drops one
reference to None on every call of a void method and one to True/False on every emit of a
bool signal; a few thousand calls later the interpreter aborts with "Fatal Python error:
none_dealloc" (or bool_dealloc), mid-session or at exit. pyproject pins the binding below
6.12; this test checks whichever version is installed.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

CALLS = 200  # enough to see the leak, too few to drive a count to zero and abort


class _Flag(QObject):
    toggled = Signal(bool)


def _counts() -> tuple[int, int, int]:
    return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)


def test_void_calls_and_bool_signals_keep_none_true_and_false_alive():
    flag, seen = _Flag(), []
    flag.toggled.connect(seen.append)
    before = _counts()
    for i in range(CALLS):
        flag.setObjectName("flag")  # a void method: returns None
        flag.toggled.emit(i % 2 == 0)
    seen.clear()  # the slot's list held references to True and False
    after = _counts()
    drift = [b - a for a, b in zip(before, after, strict=True)]
    # slack for whatever else the interpreter did meanwhile; the bug costs CALLS (or half)
    assert all(abs(d) < CALLS // 10 for d in drift), f"None/True/False counts drifted {drift}"
