"""The designer: the open design document, palette, layer stack, inspector, summary and diagram."""
