"""Mesh input and output: reading and checking files, staging inputs, GLB writing, skins, thumbnails."""
