"""The lab in the app: a "Lab" menu whose actions open one panel per experiment of :mod:`core.lab`.

- :func:`install_lab_menu` (in :mod:`gui.lab.menu`) adds the menu to the main window;
- :mod:`gui.lab.worker` runs a core experiment on a QThread, with progress and Cancel;
- :mod:`gui.lab.panel` is what every panel shares (options, Run / Cancel, progress, messages);
- one module per panel: :mod:`~gui.lab.gradcheck_panel`, :mod:`~gui.lab.signal_panel`,
  :mod:`~gui.lab.dropout_panel`, :mod:`~gui.lab.ensemble_panel`, :mod:`~gui.lab.remedies_panel`;
- :mod:`gui.lab.plots` holds the plot and colour helpers, :mod:`gui.lab.datasets` a small dataset cache;
- ``python -m gui.lab.screenshots`` makes the README's screenshots (:mod:`gui.lab.screenshots`).

The panels only draw what the core returns; every number comes from :mod:`core.lab`.
"""

from convstudio.gui.lab.menu import LabController, install_lab_menu

__all__ = ["LabController", "install_lab_menu"]
