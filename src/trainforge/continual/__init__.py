"""Continual learning: what a package keeps for later updates, and updating it with new data."""
