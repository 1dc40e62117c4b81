"""IR tier: tests that need only the NumPy reference interpreter (no native code)."""
