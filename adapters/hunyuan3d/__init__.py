"""Hunyuan3D-2 shape and texture (``hunyuan3d``, ``hunyuan3d_textured``); the pipeline
loading and vision transforms are private modules."""

from adapters.hunyuan3d.adapter import HunyuanAdapter, HunyuanParams, HunyuanTexturedParams

__all__ = ["HunyuanAdapter", "HunyuanParams", "HunyuanTexturedParams"]
