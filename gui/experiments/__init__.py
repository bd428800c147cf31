"""The Training menu's experiments: the learning-rate finder and sweeps, each in its own panel window.

The numbers come from :mod:`convstudio.core.experiments`; these panels only
start its jobs in a worker process, show progress, draw the results and apply
a chosen rate or trial's settings to the design as one undoable edit.
"""
