"""Peer tools run by `benchmarks.run`, each in its own virtualenv (see `benchmarks.run --help`)."""
