"""A parameter form generated from an adapter's pydantic JSON schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

INT_LIMIT = 2**31 - 1


def _label(name: str, prop: dict[str, Any]) -> str:
    return prop.get("title") or name.replace("_", " ").capitalize()


def _bounds(prop: dict[str, Any], default_low: float, default_high: float) -> tuple[float, float]:
    low = prop.get("minimum", prop.get("exclusiveMinimum", default_low))
    high = prop.get("maximum", prop.get("exclusiveMaximum", default_high))
    return low, high


class ParamForm(QWidget):
    """One editor per schema property; every edit calls ``on_change(name, value)``."""

    def __init__(self, on_change: Callable[[str, Any], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._on_change = on_change
        self._layout = QFormLayout(self)
        self.editors: dict[str, QWidget] = {}

    def set_schema(self, schema: dict[str, Any], values: dict[str, Any]) -> None:
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self.editors.clear()
        for name, prop in schema.get("properties", {}).items():
            editor = self._editor(name, _resolve(prop, schema), values.get(name))
            editor.setToolTip(prop.get("description", ""))
            editor.setObjectName(f"param_{name}")
            self.editors[name] = editor
            self._layout.addRow(_label(name, prop), editor)

    def _editor(self, name: str, prop: dict[str, Any], value: Any) -> QWidget:
        emit = lambda v, n=name: self._on_change(n, v)  # noqa: E731 - binds the name
        if "enum" in prop:
            combo = QComboBox()
            for choice in prop["enum"]:
                combo.addItem(str(choice), choice)
            combo.setCurrentIndex(max(0, prop["enum"].index(value) if value in prop["enum"] else 0))
            combo.currentIndexChanged.connect(lambda i, c=combo: emit(c.itemData(i)))
            return combo
        kind = prop.get("type")
        if kind == "boolean":
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(emit)
            return box
        if kind == "integer":
            spin = QSpinBox()
            low, high = _bounds(prop, -INT_LIMIT, INT_LIMIT)
            spin.setRange(int(max(low, -INT_LIMIT)), int(min(high, INT_LIMIT)))
            spin.setValue(int(value or 0))
            spin.valueChanged.connect(emit)
            return spin
        if kind == "number":
            dspin = QDoubleSpinBox()
            low, high = _bounds(prop, -1e9, 1e9)
            dspin.setRange(float(low), float(high))
            dspin.setDecimals(3)
            dspin.setValue(float(value or 0.0))
            dspin.valueChanged.connect(emit)
            return dspin
        line = QLineEdit("" if value is None else str(value))
        line.textChanged.connect(emit)
        return line


def _resolve(prop: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` to an enum definition (pydantic puts Enum/Literal choices there)."""
    ref = prop.get("$ref") or next((p.get("$ref") for p in prop.get("allOf", [])), None)
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return {**schema.get("$defs", {}).get(name, {}), **{k: v for k, v in prop.items()
                                                           if k not in ("$ref", "allOf")}}
    return prop
