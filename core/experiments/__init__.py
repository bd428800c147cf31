"""Experiments on a design beyond one run: the learning-rate finder, hyper-parameter sweeps, TensorBoard files.

- :mod:`.lr_finder`: the learning-rate range test (Smith 2017) and its suggested rates.
- :mod:`.sweep_plan`: a sweep's trials (a grid or random draws over training settings and layer fields),
  checked before anything trains, saved as ``sweep.json``.
- :mod:`.sweeps`: running the trials, one run folder each, and reading their results back.
- :mod:`.tensorboard`: a run's records as TensorBoard event files.

Nothing here imports Qt; the app's dialogs (``gui.experiments``) and the
``lr-find`` and ``sweep`` commands call the same functions.
"""
