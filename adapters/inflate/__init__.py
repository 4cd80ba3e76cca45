"""Silhouette inflation (``inflate``, ``inflate_textured``); the mesh build is private."""

from adapters.inflate.adapter import InflateAdapter, InflateParams, InflateTexturedParams

__all__ = ["InflateAdapter", "InflateParams", "InflateTexturedParams"]
