"""Benchmark of asset-sync against the naive implementations (`make bench`)."""
