"""auto_rig: a skeleton and skin weights for a character or animal mesh, on the CPU.

Pipeline (each step in its own module): the mesh becomes a voxel solid by winding number
(``_shared.voxels``); geodesic level sets from the centre of mass give a curve skeleton tree
(``_skeleton``); that tree becomes at most ``max_bones`` joints, one chain per limb
(``_bones``); heat diffusion gives smooth weights, four per vertex (``_weights``).
Large meshes are simplified for the weight solve; each full-resolution vertex then takes the
weights interpolated at its closest point on the simplified surface.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.contract.protocol import AdapterOutput, RunContext
from engine.errors import InvalidInput
from engine.meshio.skin import Skin


class AutoRigParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_bones: int = Field(32, ge=2, le=128, description="Most joints the skeleton may have.")
    resolution: int = Field(
        112, ge=48, le=256,
        description="Voxels along the longest side when finding the skeleton; raise it when "
                    "limbs that nearly touch are merged.")


class AutoRigAdapter:
    def load(self, device: str) -> None:
        # the heavy native library, once per worker (its users import it again, cheaply)
        import igl  # noqa: F401

    def unload(self) -> None:
        pass

    def run(self, inputs: list[Path], ctx: RunContext) -> AdapterOutput:
        from adapters._shared.voxels import voxelize
        from adapters.autorig._bones import build_joints
        from adapters.autorig._mesh import require_volume, solve_mesh, weld
        from adapters.autorig._skeleton import node_tree
        from adapters.autorig._weights import heat_weights, transfer
        from engine.meshio.reader import load_mesh

        params: AutoRigParams = ctx.params  # type: ignore[assignment]
        ctx.step("reading mesh", 0.02)
        label = inputs[0].name
        mesh = load_mesh(inputs[0])
        used = np.zeros(len(mesh.vertices), dtype=bool)
        used[np.asarray(mesh.faces).reshape(-1)] = True
        if not used.all():  # every vertex of the result is weighted: drop the ones no face uses
            mesh.remove_unreferenced_vertices()
        vertices, faces, to_weld = weld(np.asarray(mesh.vertices, dtype=np.float64),
                                        np.asarray(mesh.faces, dtype=np.int64))
        if len(faces) == 0:
            raise InvalidInput(f"{label} has only degenerate triangles, so it has no surface.")
        ctx.step("simplifying for the solve", 0.08)
        small_v, small_f = solve_mesh(vertices, faces)
        ctx.step("checking the volume", 0.15)
        require_volume(small_v, small_f, label)
        ctx.step("voxelizing", 0.2)
        grid = voxelize(vertices, faces, small_v, small_f, params.resolution)
        ctx.step("extracting the skeleton", 0.35)
        tree = node_tree(grid)
        ctx.step("building bones", 0.5)
        joints = build_joints(tree, params.max_bones, small_v)
        ctx.step("computing skin weights", 0.55)
        idx, w = heat_weights(small_v, small_f, joints, grid, ctx.check_cancelled)
        ctx.step("binding the mesh", 0.9)
        if small_v is not vertices:  # solved on a simplified copy: carry the weights over
            idx, w = transfer(vertices, small_v, small_f, idx, w, len(joints.parent))
        if len(to_weld) != len(idx) or (to_weld != np.arange(len(to_weld))).any():
            idx, w = idx[to_weld], w[to_weld]  # back from the welded copy to every vertex
        names = [f"joint_{j:02d}" for j in range(len(joints.parent))]
        skin = Skin(names, joints.parent, joints.position, idx, w)
        return AdapterOutput(mesh=mesh, skin=skin, stats={
            "bones": len(joints.parent),
            "max_influences": int((w > 0).sum(axis=1).max(initial=0)),
        })
