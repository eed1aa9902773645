"""Record types, validation and the documented input/output schemas."""
