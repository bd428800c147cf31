"""The training engine: trains any design headless and reports progress as plain data.

The GUI runs :class:`~core.training.engine.TrainingRun` on a worker thread; the
``convstudio train`` command and the tests call the same engine directly.
"""
