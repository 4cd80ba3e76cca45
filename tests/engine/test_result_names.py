"""Results are named after their input and their job, so an artist's folder of outputs reads
like a list of what was done (``wuson_retopo_5k.glb``), never a pile of result.glb."""

from __future__ import annotations

import pytest

from engine.workers.results import result_name


@pytest.mark.parametrize(("feature", "inputs", "params", "expected"), [
    ("mesh_retopology", ["/data/inputs/ab12/wuson.glb"], {"target_faces": 5000},
     "wuson_retopo_5k.glb"),
    ("mesh_retopology", ["/data/inputs/ab12/wuson.glb"], {"target_faces": 1234},
     "wuson_retopo_1234.glb"),
    ("uv_unwrapping", ["/data/inputs/cd/my chair.obj"], {}, "my_chair_uv.glb"),
    ("image_mesh_painting", ["/i/box.glb", "/i/wood.png"], {}, "box_painted.glb"),
    ("text_to_raw_mesh", [], {"prompt": "a red chair, wooden legs"}, "a_red_chair_wooden_mesh.glb"),
    ("text_to_raw_mesh", [], {"prompt": "   "}, "result_mesh.glb"),
])
def test_the_result_is_named_after_its_input_and_job(feature, inputs, params, expected):
    assert result_name(feature, inputs, params) == expected


def test_a_name_cannot_leave_the_output_folder_or_carry_odd_characters():
    name = result_name("auto_rig", ["/x/..\\..\\evil name?.obj"], {"target_faces": True})
    assert "/" not in name and "\\" not in name and "?" not in name and " " not in name
    assert name.endswith("_rigged.glb") and not name.startswith(".")
