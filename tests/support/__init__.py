"""Helpers shared by the test suites (not shipped with the studio)."""
