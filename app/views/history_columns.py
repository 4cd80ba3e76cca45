"""History's columns fit the panel: on a narrow panel (a 1366 × 768 screen) the least needed
columns step aside instead of the table scrolling sideways, and come back as it widens."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QTableView

from app.viewmodels.history_cells import ADAPTER, DURATION, INPUT, PIPELINE, USER

# hidden first to last as the panel narrows; the thumbnail, feature, input, status and date
# always stay (what the job was, on what, how it ended and when)
LEAST_NEEDED_FIRST = (USER, PIPELINE, ADAPTER, DURATION)
SHRINKS, NARROWEST = INPUT, 80  # then the file name elides, down to this many pixels


class ColumnFit(QObject):
    """Shows the columns whose widths fit the width of ``table``'s viewport, in order of need.

    Widths are the ones the table was made with: the last shown column stretches to the edge,
    so what it shows then is no measure of what it needs."""

    def __init__(self, table: QTableView) -> None:
        self._viewport = table.viewport()  # its size is the room, the table's is not
        super().__init__(self._viewport)
        self._table = table
        header = table.horizontalHeader()
        self._widths = [header.sectionSize(column) for column in range(header.count())]
        self._viewport.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self._viewport:
            self.fit()
        return False

    def fit(self) -> None:
        header = self._table.horizontalHeader()
        room = self._viewport.width()
        used = sum(w for c, w in enumerate(self._widths) if c not in LEAST_NEEDED_FIRST)
        shown = set()
        for column in reversed(LEAST_NEEDED_FIRST):  # the most needed of them first
            if used + self._widths[column] > room:
                break
            used += self._widths[column]
            shown.add(column)
        for column in LEAST_NEEDED_FIRST:
            header.setSectionHidden(column, column not in shown)
        over = max(0, used - room)
        header.resizeSection(SHRINKS, max(NARROWEST, self._widths[SHRINKS] - over))
