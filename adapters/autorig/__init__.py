"""Skeleton and heat-diffusion skinning (``skeleton_rig``); its steps are private modules."""

from adapters.autorig.adapter import AutoRigAdapter, AutoRigParams

__all__ = ["AutoRigAdapter", "AutoRigParams"]
