"""Helpers shared by several adapters, one module per concern.

- ``repair``: welding, winding, edge counts, the model's frame (mesh clean-up)
- ``hole_filling``: closing a part's holes with faired patches
- ``solid_grid`` / ``voxels``: winding-number solids and voxel grids with inner depth
- ``bake`` / ``raster`` / ``texture`` / ``surface_geometry``: baking onto a new UV atlas,
  rasterising UV triangles, normals, tangent frames and texture samples,
  filling and growing texels
- ``min_cut``: the minimum s-t cut over a face or voxel graph
- ``mask``: cutting the object out of a picture (inflate, depth relief, Hunyuan3D, projection)
- ``memory`` / ``neural``: GPU memory plans and the common neural-model plumbing

Nothing here is an adapter; an adapter package keeps what only it uses in its own
``_``-prefixed modules.
"""
