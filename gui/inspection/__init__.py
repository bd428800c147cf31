"""The Inspect dock: a data browser and a view inside a run or design on one image.

Every picture is computed and drawn by :mod:`convstudio.core.inspection`; these
widgets choose what to look at, run the work off the GUI thread and show the
pictures, each exportable as PNG.
"""
