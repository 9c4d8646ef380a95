"""The seed's FastAPI app (main.py), unchanged but for absolute imports."""
from fastapi import FastAPI

from tasks import sample_task

app = FastAPI()


@app.get('/run-task/')
def run_task(duration: int):
    """Submit a background task via Celery."""
    task = sample_task.apply_async(args=[duration])
    return {'task_id': task.id, 'status': 'Task submitted'}


@app.get('/task-status/{task_id}')
def get_task_status(task_id: str):
    """Check the status of a specific task."""
    task = sample_task.AsyncResult(task_id)
    if task.state == 'SUCCESS':
        return {'status': task.state, 'result': task.result}
    return {'status': task.state}
