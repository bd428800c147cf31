"""Ready-made designs shipped with ConvStudio (JSON design files, read by ``core.presets``)."""
