"""Spectral segmentation (``spectral``); its clustering and refinement are private modules."""

from adapters.segmentation.adapter import (
    SegmentationParams,
    SpectralSegmentationAdapter,
    part_colour,
    segment_mesh,
)

__all__ = ["SegmentationParams", "SpectralSegmentationAdapter", "part_colour", "segment_mesh"]
