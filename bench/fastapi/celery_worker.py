"""The seed's celery_worker.py; the broker comes from CELERY_BROKER_URL."""
import os

from celery import Celery

BROKER = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")

# Initialize Celery with Redis as broker and backend
celery_app = Celery('worker', broker=BROKER, backend=BROKER)
