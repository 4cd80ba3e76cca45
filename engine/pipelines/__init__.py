"""Recipes of several jobs and the runner that chains them."""
