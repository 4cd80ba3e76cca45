"""Where the window and its panels go: 90% of the screen on a first launch, a default layout
that gives the viewport most of the space and History room for several rows, and remembered
layouts stored under a version, so an old saved layout can never break a newer default."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow

LAYOUT_VERSION = 2  # bump when the default layout changes: older saved states are ignored
GEOMETRY_KEY = "window/geometry"
STATE_KEY = f"window/state/v{LAYOUT_VERSION}"
SCREEN_SHARE = 0.9
SIDE_SHARE = (0.19, 0.21)  # Create (left) and Jobs (right), as shares of the window's width
SIDE_LIMITS = (300, 420)
HISTORY_SHARE = 0.4  # the bottom panels, as a share of the window's height: 5+ History rows
HISTORY_MIN = 250  # header, filters, buttons and at least a few rows


def restore_layout(window: QMainWindow, docks: dict[str, QDockWidget],
                   settings: QSettings) -> bool:
    """Put the window back where it was; False when the default layout is still to be applied
    (call ``apply_default_layout`` once the window is shown and sized)."""
    # the side docks run the window's full height; History sits under the viewport only
    window.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
    window.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
    geometry = settings.value(GEOMETRY_KEY)
    if geometry is None or not window.restoreGeometry(geometry):
        fit_screen(window)
    state = settings.value(STATE_KEY)
    return state is not None and window.restoreState(state, LAYOUT_VERSION)


def fit_screen(window: QMainWindow) -> None:
    """90% of the screen's free area, centred."""
    screen = window.screen() or window.window().screen()
    if screen is None:
        window.resize(1500, 920)
        return
    area = screen.availableGeometry()
    width, height = int(area.width() * SCREEN_SHARE), int(area.height() * SCREEN_SHARE)
    window.setGeometry(area.x() + (area.width() - width) // 2,
                       area.y() + (area.height() - height) // 2, width, height)


def apply_default_layout(window: QMainWindow, docks: dict[str, QDockWidget]) -> None:
    width, height = window.width(), window.height()
    sides = [max(SIDE_LIMITS[0], min(SIDE_LIMITS[1], int(width * share)))
             for share in SIDE_SHARE]
    window.resizeDocks([docks["Create"], docks["Jobs"]], sides, Qt.Orientation.Horizontal)
    window.resizeDocks([docks["History"]], [max(HISTORY_MIN, int(height * HISTORY_SHARE))],
                       Qt.Orientation.Vertical)


def save_layout(window: QMainWindow, settings: QSettings) -> None:
    settings.setValue(GEOMETRY_KEY, window.saveGeometry())
    settings.setValue(STATE_KEY, window.saveState(LAYOUT_VERSION))
