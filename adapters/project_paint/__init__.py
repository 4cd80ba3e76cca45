"""Projection painting (``project``); its camera and bake are private modules."""

from adapters.project_paint.adapter import ProjectAdapter, ProjectParams, paint

__all__ = ["ProjectAdapter", "ProjectParams", "paint"]
