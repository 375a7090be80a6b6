"""Shared test helpers (fixtures and servers used by the test suite)."""
