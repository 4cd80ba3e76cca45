"""Memory plans for neural models on GPUs of every size (pure: no GPU needed), the engine's
request on a GPU smaller than a model's peak, and the torchvision transforms lent to hy3dgen
when torchvision cannot load."""

from __future__ import annotations

import pytest

from adapters._shared.memory import plan_memory
from adapters.registry import SPECS
from engine.contract.spec import AdapterSpec

GB = 1024


@pytest.mark.parametrize(("gpu_gb", "offload", "why"), [
    (80, "none", "the GPU's 80.0 GB holds the model's declared 6.0 GB"),
    (6, "none", "the GPU's 6.0 GB holds the model's declared 6.0 GB"),
    (4, "model", "the GPU's 4.0 GB is less than the model's declared 6.0 GB"),
    (3, "model", "the GPU's 3.0 GB is less than the model's declared 6.0 GB"),
    (2, "sequential", "the GPU's 2.0 GB is less than the model's declared 6.0 GB (under half "
                      "of it)"),
])
def test_the_plan_offloads_only_when_the_gpu_is_smaller_than_the_declared_peak(gpu_gb, offload,
                                                                            why):
    plan, notes = plan_memory("cuda:0", 6 * GB, gpu_gb * GB)
    assert (plan.precision, plan.offload, plan.reason, notes) == ("fp16", offload, why, [])


def test_fp32_on_a_gpu_needs_twice_the_fp16_figure():
    plan, _ = plan_memory("cuda:0", 6 * GB, 8 * GB, precision="fp32")
    assert (plan.precision, plan.offload) == ("fp32", "model")
    assert plan.reason == "the GPU's 8.0 GB is less than the model's declared 12.0 GB"


def test_what_the_artist_forces_is_what_runs():
    plan, notes = plan_memory("cuda:1", 6 * GB, 80 * GB, precision="bf16", offload="sequential")
    assert (plan.precision, plan.offload, plan.reason, notes) == (
        "bf16", "sequential", "chosen by the artist", [])
    assert plan.stats() == {"precision": "bf16", "offload": "sequential",
                            "memory_plan": "chosen by the artist"}


def test_what_cannot_apply_is_said_and_the_nearest_plan_runs():
    plan, notes = plan_memory("cuda:0", 6 * GB, 80 * GB, precision="bf16", bf16_ok=False)
    assert plan.precision == "fp16"
    assert notes == ["This GPU does not support bf16, so the model ran in fp16."]
    plan, notes = plan_memory("cpu", 6 * GB, 0, precision="fp16", offload="model")
    assert (plan.precision, plan.offload, plan.reason) == ("fp32", "none", "on the CPU")
    assert notes == ["fp16 is for GPUs; this job ran on the CPU in fp32.",
                     "Offloading to the CPU applies only on a GPU; this job ran on the CPU."]
    plan, notes = plan_memory("cpu", 0, 0, precision="bf16")
    assert plan.precision == "bf16" and notes == []  # torch runs bf16 on the CPU


def test_a_model_without_a_declared_peak_stays_on_the_gpu():
    plan, _ = plan_memory("cuda:0", 0, 4 * GB)
    assert (plan.offload, plan.reason) == ("none", "no declared peak: kept on the GPU")


def test_a_gpu_smaller_than_the_peak_is_asked_for_whole_when_offloading_fits():
    spec = next(s for s in SPECS if s.id == "hunyuan3d")
    assert spec.peak_vram_mb == 6 * GB  # Tencent's "6 GB VRAM for shape generation"
    assert spec.request_vram_mb(24 * GB) == 6 * GB
    assert spec.request_vram_mb(4 * GB) == 4 * GB  # runs offloaded, holding that GPU
    assert spec.request_vram_mb(1 * GB) == 6 * GB  # below its floor: never placed there
    depth = next(s for s in SPECS if s.id == "depth_relief")
    assert depth.min_vram_mb == 0 and depth.request_vram_mb(1 * GB) == depth.peak_vram_mb
    with pytest.raises(ValueError):
        AdapterSpec.model_validate({**spec.model_dump(), "min_vram_mb": -1})


# ------------------------------------------------------------ the transforms lent to hy3dgen
def test_the_lent_transforms_follow_torchvisions_tensor_semantics():
    import torch
    import torch.nn.functional as F

    from adapters.hunyuan3d._vision_transforms import (
        CenterCrop,
        Compose,
        InterpolationMode,
        Normalize,
        Resize,
    )

    image = torch.rand(2, 3, 40, 60)
    resized = Resize(20, InterpolationMode.BILINEAR, antialias=True)(image)
    assert resized.shape == (2, 3, 20, 30)  # the shorter side to 20, the aspect kept
    expected = F.interpolate(image, size=(20, 30), mode="bilinear", align_corners=False,
                             antialias=True)
    assert torch.equal(resized, expected)
    assert torch.allclose(Resize(16)(torch.full((1, 3, 32, 32), 0.25)), torch.tensor(0.25))
    grid = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert CenterCrop(2)(grid).flatten().tolist() == [14.0, 15.0, 20.0, 21.0]
    padded = CenterCrop(4)(torch.ones(1, 1, 2, 2))
    assert padded.shape == (1, 1, 4, 4) and padded.sum() == 4  # zero-padded around
    norm = Normalize([0.5, 0.25, 0.0], [0.5, 0.25, 1.0])(torch.ones(1, 3, 2, 2))
    assert norm[0, :, 0, 0].tolist() == [1.0, 3.0, 1.0]
    chain = Compose([Resize(28), CenterCrop(28), Normalize([0.0] * 3, [1.0] * 3)])
    assert chain(torch.rand(1, 3, 64, 96)).shape == (1, 3, 28, 28)


def test_a_model_folder_named_in_a_job_is_planned_with_the_adapters_default_figure(tmp_path):
    from adapters._shared.neural import ModelSlot
    from engine.storage.models import ModelStore
    from tests.engine.test_models import hunyuan_model

    folder_status = ModelStore().status(str(hunyuan_model(tmp_path / "my-hunyuan")))
    assert folder_status.info.peak_vram_mb == 0  # a folder has no catalog entry
    slot = ModelSlot("hunyuan3d-2mini-turbo", lambda *a: None)
    assert slot._declared(folder_status) == 6 * GB
    assert ModelSlot("somewhere/unknown", lambda *a: None)._declared(folder_status) == 0
