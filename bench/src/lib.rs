//! Load generator and comparison harness (not built yet: see the bench issue).
