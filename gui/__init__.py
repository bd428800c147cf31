"""ConvStudio's Qt interface: presents and edits what ``core`` holds."""
