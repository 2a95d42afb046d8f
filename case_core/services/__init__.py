"""Use cases of the case core. Keyword-only async functions; they ``flush()``, the caller's boundary commits."""
