"""Which parts the viewport draws: the full mesh, its lighter preview, or a moving level.

A mixin of ``ViewportViewModel`` (``app.viewmodels.viewport_viewmodel``), which keeps the
state read here (the mode, the artist's full-detail choice, the face budget the view measured,
hidden parts, camera motion); these methods only decide from it, and change nothing but the
caches they name (the level picked for a camera move, the filtered parts tuple).
"""

from __future__ import annotations

from app import scene_lod
from app.scene_data import PartData, SceneData
from app.viewmodels.display_modes import DisplayMode

# modes whose look does not tell one part from another (Parts colours each; Skeleton and
# Wireframe draw what they draw from each part)
_MERGEABLE = (DisplayMode.TEXTURED, DisplayMode.CLAY, DisplayMode.TWO_SIDED, DisplayMode.NORMALS,
              DisplayMode.UV_CHECKER)


class ViewportDetail:
    """Level-of-detail decisions for ``ViewportViewModel``; mixed in before ``QObject``."""

    @property
    def face_budget(self) -> int:
        return self._face_budget

    def parts_to_draw(self, scene: SceneData) -> tuple[PartData, ...]:
        """The scene's preview while it is the one to draw, else its real parts. Wireframe
        always draws the real mesh: its point is to show the actual topology."""
        level = self._still_parts(scene)
        if self.camera_moving and scene is self.scene:
            if self._motion is None or not any(lvl is self._motion
                                               for lvl in scene_lod.levels(scene)):
                # picked once per move: a frame measured meanwhile must not swap levels mid-drag
                self._motion = scene_lod.moving_level(scene, level, self._face_budget)
            if self._motion is not scene.parts and self.effective_mode in _MERGEABLE:
                return self._merged(self._visible(self._motion))
            level = self._motion
        return self._visible(level)

    def _merged(self, parts: tuple[PartData, ...]) -> tuple[PartData, ...]:
        """A light moving level of many parts with the parts that look alike joined (one VTK
        actor each, not hundreds), the same tuple for the same parts."""
        if len(parts) <= scene_lod.MERGE_ABOVE_PARTS:
            return parts
        if self._merged_cache[0] is not parts:
            self._merged_cache = (parts, scene_lod.merged(parts))
        return self._merged_cache[1]

    def _visible(self, level: tuple[PartData, ...]) -> tuple[PartData, ...]:
        """``level`` without the parts the artist hid (every level keeps one entry per part)."""
        if not self._hidden:
            return level
        key = (id(level), self._hidden)  # the same tuple again: the view keeps its meshes
        if self._drawn[0] != key:
            self._drawn = (key, tuple(p for i, p in enumerate(level) if i not in self._hidden))
        return self._drawn[1]

    def _still_parts(self, scene: SceneData) -> tuple[PartData, ...]:
        return (scene.preview if self._draws_preview(scene) and scene.preview is not None
                else scene.parts)

    @property
    def camera_moving(self) -> bool:
        """True while the camera moves (a drag, a wheel, the turntable): a heavy scene then
        draws a lighter level of detail, and its still level once the camera stops."""
        return self._moving or self._turntable

    @property
    def render_scale(self) -> float:
        """The share of the view's resolution to draw at now: the motion scale the view set
        (``set_motion_render_scale``) while the camera moves, else 1 (every pixel)."""
        return self._motion_scale if self.camera_moving else 1.0

    def set_motion_render_scale(self, scale: float) -> None:
        """The view's word on how finely its renderer draws while the camera moves (1: every
        pixel, as when still; 0.5: half the width and height, scaled up to the view)."""
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"a render scale is in (0, 1], not {scale}")
        if scale != self._motion_scale:
            self._motion_scale = float(scale)
            if self.camera_moving:
                self.detail_changed.emit()
                self._emit_overlay()

    @property
    def hidden_parts(self) -> frozenset[int]:
        return self._hidden

    @property
    def shows_preview(self) -> bool:
        scene = self.scene
        return scene is not None and self._draws_preview(scene)

    @property
    def full_detail(self) -> bool:
        """True when the artist asked for the full mesh where a preview exists."""
        return self._full_detail

    def _draws_preview(self, scene: SceneData) -> bool:
        return (scene.preview is not None and not self._full_detail
                and self._mode is not DisplayMode.WIREFRAME
                and id(scene) not in self._auto_full)
