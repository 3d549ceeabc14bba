"""Figures the tests measure (e.g. the container tests' image size and cold start), printed at the
end of the run by the hook in tests/conftest.py."""

MEASURED: dict[str, dict] = {}
