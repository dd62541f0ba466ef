"""Embedded local mode: Alpaca stand-in, catalog generator and other loopback helpers."""
