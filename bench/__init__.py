"""Benchmarks: one script per figure, each printing its baseline beside it."""
