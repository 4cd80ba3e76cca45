"""The four tensor transforms hy3dgen's image conditioner takes from torchvision (Compose,
Resize, CenterCrop, Normalize), for machines where torchvision cannot be loaded.

Why: PyPI's torchvision wheels for Linux are CUDA builds. Next to a CPU build of torch they
fail on import ("operator torchvision::nms does not exist"), and a machine that cannot reach
PyTorch's own CPU index has no other wheel. hy3dgen's conditioner only ever calls these four
on a (batch, 3, H, W) float tensor, so ``shapegen_import`` (adapters/hunyuan3d/_pipeline.py)
lends them to that one import when the real torchvision is missing or broken, and takes them
back at once: nothing else in the worker ever sees this module as ``torchvision``.

Each follows torchvision's tensor semantics: Resize with an int resizes the shorter side and
keeps the aspect ratio (bilinear, antialiased, half-pixel centres), CenterCrop crops the middle
(zero-padding a smaller image first), Normalize subtracts the mean and divides by the std per
channel.
"""

from __future__ import annotations

import enum
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


class Compose:
    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: Any) -> Any:
        for transform in self.transforms:
            image = transform(image)
        return image


class Resize:
    def __init__(self, size: int | Sequence[int],
                 interpolation: InterpolationMode = InterpolationMode.BILINEAR,
                 max_size: int | None = None, antialias: bool = True) -> None:
        self.size, self.mode, self.antialias = size, interpolation.value, antialias

    def __call__(self, image: Any) -> Any:
        import torch.nn.functional as F

        height, width = image.shape[-2:]
        target = _target_size(self.size, height, width)
        if target == (height, width):
            return image
        smooth = self.mode in ("bilinear", "bicubic")
        return F.interpolate(image, size=target, mode=self.mode,
                             align_corners=False if smooth else None,
                             antialias=self.antialias and smooth)


def _target_size(size: int | Sequence[int], height: int, width: int) -> tuple[int, int]:
    if not isinstance(size, int):
        return int(size[0]), int(size[-1])
    if height <= width:
        return size, int(size * width / height)
    return int(size * height / width), size


class CenterCrop:
    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[-1]))

    def __call__(self, image: Any) -> Any:
        import torch.nn.functional as F

        want_h, want_w = self.size
        height, width = image.shape[-2:]
        if want_h > height or want_w > width:
            pad_h, pad_w = max(0, want_h - height), max(0, want_w - width)
            image = F.pad(image, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
            height, width = image.shape[-2:]
        top = round((height - want_h) / 2.0)
        left = round((width - want_w) / 2.0)
        return image[..., top:top + want_h, left:left + want_w]


class Normalize:
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = list(mean), list(std)

    def __call__(self, image: Any) -> Any:
        import torch

        mean = torch.as_tensor(self.mean, dtype=image.dtype, device=image.device)
        std = torch.as_tensor(self.std, dtype=image.dtype, device=image.device)
        return (image - mean.view(-1, 1, 1)) / std.view(-1, 1, 1)


def as_modules() -> dict[str, types.ModuleType]:
    """``torchvision`` and ``torchvision.transforms`` module objects that hold the above."""
    transforms = types.ModuleType("torchvision.transforms")
    for name in ("Compose", "Resize", "CenterCrop", "Normalize", "InterpolationMode"):
        setattr(transforms, name, getattr(sys.modules[__name__], name))
    package = types.ModuleType("torchvision")
    package.transforms = transforms  # type: ignore[attr-defined]
    return {"torchvision": package, "torchvision.transforms": transforms}
