"""The viewport's overlay: the lines drawn in its corner, from the view model's state.

A mixin of ``ViewportViewModel`` (``app.viewmodels.viewport_viewmodel``): it reads the state
that class keeps (the scene, the mode, before/after, the level of detail drawn) and composes
text from it; it keeps no state of its own.
"""

from __future__ import annotations

from app import scene_lod
from app.viewmodels.display_modes import MODE_KEYS, MODE_LABELS, mode_note

DETAIL_KEY = "D"
BEFORE, AFTER = "before", "after"


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def _resolution(scale: float) -> str:
    """How the overlay names a render scale below 1 ("" at full resolution)."""
    if scale >= 1.0:
        return ""
    return " at half resolution" if scale == 0.5 else f" at {scale:.0%} resolution"


class ViewportOverlay:
    """Overlay text for ``ViewportViewModel``; mixed in before ``QObject``."""

    def overlay_text(self) -> str:
        """The lines drawn in the viewport's corner."""
        if self._loading:
            return f"Loading {self._loading}…"
        scene = self.scene
        if scene is None:
            return "Open or drop a mesh: GLB, glTF, OBJ, PLY, STL or OFF."
        stats, (low, high) = self.stats(), scene.bounds
        title = scene.name + {BEFORE: "  ·  before (input)", AFTER: "  ·  after (result)"}.get(
            self._side, "")
        charts = stats.get("uv_charts")
        counts = "  ·  ".join([
            _count(stats["vertices"], "vertex", "vertices"), _count(stats["faces"], "face"),
            _count(stats["parts"], "part"), _count(stats["bones"], "bone"),
            "no UVs" if charts is None else _count(charts, "UV chart"),
        ])
        x, y, z = high - low
        if self.side_by_side:
            title = f"{scene.name}  ·  left: the input, right: the result"
        lines = [title, counts, f"size {x:.3g} × {y:.3g} × {z:.3g}",
                 f"[{MODE_KEYS[self._mode]}] {MODE_LABELS[self._mode]}"]
        if detail := self.detail_note():
            lines.append(detail)
        note = " ".join(n for n in (self.mode_note(), self._note) if n)
        # what reading the file found (a missing texture, UVs at one point, no material)
        return "\n".join([*lines, *([note] if note else []), *scene.notes])

    def detail_note(self) -> str:
        """Which mesh is on screen, when the scene has a preview; "" otherwise."""
        scene = self.scene
        coarse = _resolution(self.render_scale)
        if scene is None or (scene.preview is None and not coarse):
            return ""
        drawn = self.parts_to_draw(scene)
        if self.camera_moving and (coarse or drawn is not self._still_parts(scene)):
            return (f"Moving: {scene_lod.face_count(drawn):,} of {scene.faces:,} faces drawn"
                    f"{coarse}, refines when the camera stops")
        if scene.full_pending and drawn is scene.preview:
            return (f"Preview: {scene.preview_faces:,} of {scene.faces:,} faces drawn, "
                    "full detail on its way")
        if self._draws_preview(scene):
            return (f"Preview: {scene.preview_faces:,} of {scene.faces:,} faces drawn, "
                    f"[{DETAIL_KEY}] full detail")
        if self._full_detail:
            return f"Full detail, [{DETAIL_KEY}] lighter preview"
        return ""

    def mode_note(self) -> str:
        """Why the mode looks the way it does on this scene, or ""."""
        return mode_note(self.scene, self._mode)
