"""Checked export of a job's result to GLB, glTF, OBJ, PLY, STL and USDZ."""
