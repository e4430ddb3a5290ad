from instemb.bench.runner import SCHEMA_VERSION, run_benchmark, run_task
from instemb.bench.tasks import TASKS, Task

__all__ = ["SCHEMA_VERSION", "TASKS", "Task", "run_benchmark", "run_task"]
