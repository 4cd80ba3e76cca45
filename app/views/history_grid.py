"""History as a grid of thumbnails: each tile shows the result's picture, what ran and on what;
failures in red. It shares the table's model and selection, so every History action works on
the tiles picked here."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
)

from app.viewmodels.history_viewmodel import FEATURE, INPUT, TILE_ROLE, TILE_SIZE

TILE = QSize(TILE_SIZE + 16, TILE_SIZE + 46)


class TileDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        return TILE

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        rect = option.rect.adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, option.palette.highlight() if selected else QColor("#22252a"))
        picture = QRect(rect.x() + (rect.width() - TILE_SIZE) // 2, rect.y() + 4,
                        TILE_SIZE, TILE_SIZE)
        pixmap = index.data(TILE_ROLE)
        if pixmap is not None:
            shown = pixmap.size().scaled(picture.size(), Qt.AspectRatioMode.KeepAspectRatio)
            painter.drawPixmap(QRect(picture.center().x() - shown.width() // 2,
                                     picture.center().y() - shown.height() // 2,
                                     shown.width(), shown.height()), pixmap)
        else:
            painter.fillRect(picture, QColor("#17191c"))
        colour = index.data(Qt.ItemDataRole.ForegroundRole)  # failures red, as in the table
        if selected or colour is None:
            colour = (option.palette.highlightedText() if selected else option.palette.text()).color()
        painter.setPen(colour)
        text = rect.adjusted(4, TILE_SIZE + 6, -4, -2)
        model = index.model()
        lines = [model.index(index.row(), column).data() or "" for column in (FEATURE, INPUT)]
        metrics = option.fontMetrics
        painter.drawText(text, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                         "\n".join(metrics.elidedText(line, Qt.TextElideMode.ElideMiddle,
                                                      text.width()) for line in lines))
        painter.restore()


def make_grid(table: QTableView) -> QListView:
    """A tile view over the table's model, sharing its selection."""
    grid = QListView(objectName="historyGrid")
    grid.setViewMode(QListView.ViewMode.IconMode)
    grid.setResizeMode(QListView.ResizeMode.Adjust)
    grid.setMovement(QListView.Movement.Static)
    grid.setUniformItemSizes(True)
    grid.setGridSize(TILE)
    grid.setItemDelegate(TileDelegate(grid))
    grid.setModel(table.model())
    grid.setSelectionModel(table.selectionModel())
    grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    grid.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)  # as the table
    grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return grid

