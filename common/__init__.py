"""Pieces shared by every part of the service; depends on nothing else in the project."""
