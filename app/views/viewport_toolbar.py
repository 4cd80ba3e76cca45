"""The viewport's toolbar: display modes, before/after, turntable, detail, camera and grid.

Each action has a key that works while the viewport has focus (digits typed in a prompt box
must stay digits), and is connected to the view model or, for camera moves, to the view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from app.viewmodels.viewport_viewmodel import DETAIL_KEY, MODE_KEYS, MODE_LABELS, DisplayMode
from app.views.viewport_camera import NAMED_VIEWS

if TYPE_CHECKING:
    from app.views.viewport import ViewportView

# toolbar words short enough that the whole bar fits a 900-pixel viewport; tooltips say more
_SHORT = {
    DisplayMode.TEXTURED: "Texture", DisplayMode.CLAY: "Clay", DisplayMode.WIREFRAME: "Wire",
    DisplayMode.NORMALS: "Normals", DisplayMode.UV_CHECKER: "UVs", DisplayMode.PARTS: "Parts",
    DisplayMode.SKELETON: "Skeleton", DisplayMode.TWO_SIDED: "2-sided",
}


def build_actions(view: ViewportView) -> None:
    """The toolbar's actions, each connected to the view model or the view."""
    vm = view.view_model
    group = QActionGroup(view)
    for mode in DisplayMode:
        action = _action(view, _SHORT[mode], MODE_KEYS[mode], checkable=True,
                         tip=MODE_LABELS[mode])
        action.setActionGroup(group)
        action.triggered.connect(lambda _=False, m=mode: vm.set_mode(m))
        view.mode_actions[mode] = action
    view.mode_actions[vm.mode].setChecked(True)
    view.toolbar.addSeparator()
    view.before_after_action = _action(view, "A/B", "B", checkable=True,
                                       tip="Before/after: the job's input or result")
    view.before_after_action.setEnabled(False)
    view.before_after_action.triggered.connect(vm.toggle_before_after)
    view.turntable_action = _action(view, "Spin", "T", checkable=True, tip="Turntable")
    view.turntable_action.toggled.connect(vm.set_turntable)
    view.detail_action = _action(
        view, "Full", DETAIL_KEY, checkable=True,
        tip="Full detail: draw every face of a heavy mesh, not its lighter preview")
    view.detail_action.setEnabled(False)
    view.detail_action.toggled.connect(vm.set_full_detail)
    view.frame_action = _action(view, "Frame", "F")
    view.frame_action.triggered.connect(view.frame)
    view.reset_action = _action(view, "Reset", "R", tip="Reset view")
    view.reset_action.triggered.connect(view.reset_view)
    view.grid_action = _action(view, "Grid", "G", checkable=True, checked=vm.grid_visible)
    view.grid_action.toggled.connect(vm.set_grid_visible)
    view.axes_action = _action(view, "Axes", "A", checkable=True, checked=vm.axes_visible)
    view.axes_action.toggled.connect(vm.set_axes_visible)
    view.view_actions = [_view_action(view, *named) for named in NAMED_VIEWS]
    view.split_action = _action(view, "A|B", "S", checkable=True,
                                tip="Side by side: the input beside the result")
    view.split_action.toggled.connect(vm.set_side_by_side)


def _view_action(view: ViewportView, name: str, key: str, offset: tuple, up: tuple) -> QAction:
    action = QAction(name, view, toolTip=f"{name} ({key})")
    action.setShortcut(QKeySequence(key))  # numpad keys: the digits above stay modes
    action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    action.triggered.connect(lambda _=False: view.look_from(offset, up))
    view.addAction(action)
    return action


def _action(view: ViewportView, text: str, key: str, *, checkable: bool = False,
            checked: bool = False, tip: str = "") -> QAction:
    action = QAction(text, view)
    action.setShortcut(QKeySequence(key))
    # only while the viewport has focus: digits typed in a prompt box must stay digits
    action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    action.setToolTip(f"{tip or text} ({key})")
    action.setCheckable(checkable)
    action.setChecked(checked)
    view.addAction(action)
    view.toolbar.addAction(action)
    return action
