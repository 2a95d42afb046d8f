"""The mobile backend: FastAPI app, auth, applicant and staff endpoints (WeChat mini-program and staff phones)."""
