"""The domain layer: one module per capability. Services flush, never commit."""
