"""Tasks: what the head outputs, its loss, its metrics and its prediction rows.

One module per task type, each registering a :class:`~headstart.tasks.base.Task` subclass;
see ``docs/design/tasks.md`` for how to add one.
"""

from headstart.tasks.base import TASKS, Task, register, task_from_meta
from headstart.tasks.classification import ClassificationTask
from headstart.tasks.multilabel import MultiLabelTask
from headstart.tasks.regression import RegressionTask
from headstart.tasks.tokens import IGNORE, TokenTargets, TokenTask

__all__ = [
    "IGNORE",
    "TASKS",
    "ClassificationTask",
    "MultiLabelTask",
    "RegressionTask",
    "Task",
    "TokenTargets",
    "TokenTask",
    "register",
    "task_from_meta",
]
