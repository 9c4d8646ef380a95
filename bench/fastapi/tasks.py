"""The seed's tasks.py (absolute import instead of the package-relative one)."""
import time

from celery_worker import celery_app


@celery_app.task
def sample_task(duration: int):
    """Simulate a time-consuming task."""
    time.sleep(duration)
    return f'Task completed in {duration} seconds!'
