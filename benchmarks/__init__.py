"""Benchmarks of the real stack (``make bench``); never part of the test suite."""
