"""The lab in the app: a "Lab" menu whose actions open one panel per experiment of :mod:`core.lab`.

- :class:`LabController` (in :mod:`gui.lab.menu`) owns the menu and docks the panels; the main window
  puts the menu in its menu bar, and :func:`install_lab_menu` returns it;
- each panel runs its core experiment with a :class:`gui.background.Worker` (progress, Cancel):
  on a thread, or in a child process for the experiments that train (ensembles, remedies);
- :mod:`gui.lab.panel` is what every panel shares (options, Run / Cancel, progress, messages);
- :mod:`gui.lab.panel_docks` makes each panel on first use in a dock of its own (the Training
  menu's experiments use it too);
- one module per panel: :mod:`~gui.lab.gradcheck_panel`, :mod:`~gui.lab.signal_panel`,
  :mod:`~gui.lab.dropout_panel`, :mod:`~gui.lab.ensemble_panel`, :mod:`~gui.lab.remedies_panel`;
- :mod:`gui.lab.plots` holds the plot and colour helpers, :mod:`gui.lab.datasets` a small dataset cache;
- ``python tools/lab_screenshots.py`` makes the README's screenshots of the lab.

The panels only draw what the core returns; every number comes from :mod:`core.lab`.
"""

from convstudio.gui.lab.menu import LabController, install_lab_menu

__all__ = ["LabController", "install_lab_menu"]
