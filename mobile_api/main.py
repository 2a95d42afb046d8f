"""ASGI entry point for uvicorn workers: `uvicorn mobile_api.main:app`."""

from mobile_api.app import create_app

app = create_app()
