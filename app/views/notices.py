"""Small notices in the viewport's bottom-right corner (the overlay text is top-left, the axes
bottom-left): a job finished ("Open · Compare") or failed (its
sentence). They never take the viewport over; a success fades after a while, a failure stays
until closed."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

SUCCESS_SHOWN_MS = 12_000
MAX_NOTICES = 4
WIDTH = 340


class Notice(QFrame):
    def __init__(self, text: str, kind: str, actions: list[tuple[str, Callable[[], None]]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="notice")
        self.setProperty("kind", kind)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel(text, wordWrap=True, objectName="noticeText")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if kind == "failed":
            self.label.setStyleSheet("color: #ffb0aa")
        close = QToolButton(text="×", toolTip="Close", objectName="noticeClose")
        close.clicked.connect(self.close_notice)
        top = QHBoxLayout()
        top.addWidget(self.label, 1)
        top.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        row = QHBoxLayout()
        row.addStretch(1)
        self.buttons: dict[str, QToolButton] = {}
        for text_, slot in actions:
            button = QToolButton(text=text_)
            button.clicked.connect(lambda _=False, s=slot: (s(), self.close_notice()))
            row.addWidget(button)
            self.buttons[text_] = button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 8, 8)
        layout.addLayout(top)
        layout.addLayout(row)
        self.setFixedWidth(WIDTH)  # NoticeArea narrows it in a narrow viewport

    def close_notice(self) -> None:
        self.hide()
        self.deleteLater()


class NoticeArea(QWidget):
    """Stacks notices in the bottom-right corner of ``host`` and follows its size."""

    def __init__(self, host: QWidget) -> None:
        super().__init__(host, objectName="noticeArea")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, False)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        host.installEventFilter(self)
        self.hide()

    def notices(self) -> list[Notice]:
        return [w for w in self.findChildren(Notice) if not w.isHidden()]

    def post(self, text: str, kind: str = "succeeded",
             actions: list[tuple[str, Callable[[], None]]] | None = None) -> Notice:
        shown = self.notices()
        for old in shown[: max(0, len(shown) - MAX_NOTICES + 1)]:
            old.close_notice()
        notice = Notice(text, kind, actions or [], self)
        notice.destroyed.connect(self._place)
        self._layout.addWidget(notice)
        notice.show()  # now, not when the layout gets round to it: _place measures it
        if kind != "failed":
            QTimer.singleShot(SUCCESS_SHOWN_MS, notice, notice.close_notice)
        self.show()
        self.raise_()
        self._place()
        return notice

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self, *_args: object) -> None:
        if not self.notices():
            self.hide()
            return
        host = self.parentWidget()
        width = min(WIDTH, max(200, host.width() * 9 // 20))  # a narrow viewport keeps most
        shown = self.notices()
        for notice in shown:  # wrapped text: each height follows the width, or it is squashed
            notice.setFixedSize(width, notice.layout().totalHeightForWidth(width))
        spacing = self._layout.spacing() * (len(shown) - 1)
        self.resize(width, sum(n.height() for n in shown) + spacing)
        self.move(max(0, host.width() - self.width() - 12),
                  max(0, host.height() - self.height() - 12))
