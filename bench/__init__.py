"""HTTP benchmarks of the hot endpoints (``python -m bench``); see docs/benchmarks.md."""
