"""Plain helper functions and classes of the tests, imported as `helpers.<module>` (tests/ is on
pytest's pythonpath). Fixtures live in conftest.py files, never here."""
