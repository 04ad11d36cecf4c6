"""The WSGI entry point for gunicorn: `gunicorn wsgi:app`."""
from hub import create_app

app = create_app()
