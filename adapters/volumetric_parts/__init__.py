"""Volumetric part completion (``volumetric``); its soup, field, partition, extraction,
snapping and looks steps are private modules."""

from adapters.volumetric_parts.adapter import (
    MIN_PARTITION_RESOLUTION,
    VolumetricPartsAdapter,
    VolumetricPartsParams,
)

__all__ = ["MIN_PARTITION_RESOLUTION", "VolumetricPartsAdapter", "VolumetricPartsParams"]
