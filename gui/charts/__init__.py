"""Live pyqtgraph charts of a run and the buffers they draw from."""
