"""Meshsmith's front end: the Qt studio (views, view models, bridge) and the command line."""
