"""Plain-Python helpers that both the engine and the desktop use (no third-party imports), so the
two processes write sizes, counts and durations the same way without importing each other."""
