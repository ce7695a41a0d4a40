"""Helpers shared by the tests: imported by test modules, never the other way round."""
