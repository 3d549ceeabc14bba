"""Serving library of trained-artifact models (not a model package: discovery skips `_` names)."""
