"""Beam PTransforms and DoFns: thin wrappers around the pure functions in `dedup`."""
