"""Plain helper functions and classes of the tests, imported as `helpers.<module>` (tests/ is on
pytest's pythonpath). Fixtures live in conftest.py files, never here."""

import pkgutil

import pytest

# The helpers' asserts report the values compared, as the tests' own do: pytest rewrites each helper
# module when it is first imported (at collection).
pytest.register_assert_rewrite(*(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__)))
