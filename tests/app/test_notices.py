"""Notices stack in the host's bottom-right corner, each tall enough for its wrapped text."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.views.notices import MAX_NOTICES, NoticeArea


def test_stacked_notices_show_their_whole_text_and_never_overlap(qtbot):
    host = QWidget()
    qtbot.addWidget(host)
    host.resize(700, 500)
    host.show()
    qtbot.waitExposed(host)
    area = NoticeArea(host)
    long = "Auto-rig of plane.obj failed: plane.obj is flat or an open sheet with no volume " \
           "inside, so it cannot hold a skeleton; give a closed model."
    first = area.post(long, "failed", [("Retry", lambda: None)])
    second = area.post("Retopologize of rock.ply finished.", "succeeded", [("Open", lambda: None)])
    qtbot.wait(50)
    for notice in (first, second):
        assert notice.isVisible()
        assert notice.label.height() >= notice.label.heightForWidth(notice.label.width())
    assert first.geometry().bottom() < second.geometry().top()  # stacked, not overlapping
    assert area.geometry().right() <= host.width() and area.geometry().bottom() <= host.height()
    for _ in range(MAX_NOTICES + 2):
        area.post("Another one finished.")
    qtbot.wait(50)
    assert len(area.notices()) == MAX_NOTICES  # the oldest make room
