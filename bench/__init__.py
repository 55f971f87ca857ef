"""Benchmarks for ronda, run as modules from the repository root (`python3 -m bench.https_throughput`)."""
