"""WSGI entry point: `gunicorn -c config/gunicorn.conf.py wsgi:app`. No database work at import."""

from app import create_app

app = create_app()
