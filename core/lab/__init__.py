"""The lab: the lecture's numerical experiments on the user's own design.

Each module holds one experiment as plain functions returning frozen dataclasses
(numbers and tuples a plot or a table needs, never a tensor), so the GUI panels,
the ``convstudio`` commands and the tests call the same code:

- :mod:`core.lab.gradcheck`: finite-difference gradient check (eq. 1-2);
- :mod:`core.lab.signal_propagation`: initialisation and the variance of Z and H (eq. 27-31, 35-37);
- :mod:`core.lab.dropout_lab`: weight scaling against Monte Carlo dropout (eq. 22-24);
- :mod:`core.lab.ensembles`: K members trained with different seeds, averaged;
- :mod:`core.lab.remedies`: the "Overfitting" slide's remedies side by side.

Helpers: :mod:`core.lab.frozen_loss` (the loss on a frozen batch that the
gradient check perturbs), :mod:`core.lab.design_edits` (a design without batch
norm, with dropout, ...), :mod:`core.lab.data_access` (normalised splits, a
run's trained model) and :mod:`core.lab.common` (progress and cancelling).
Modules are imported on demand; this package imports nothing itself.
"""
