"""What this machine offers ConvStudio, checked without Qt and, where possible, without torch.

- :mod:`.qt_platform`: the Qt platform the app would use, whether a window can open
  (a display, the platform plugin's system libraries) and the start-up message
  when it cannot; it runs before any QApplication exists.
- :mod:`.displays`: whether the X11 or Wayland display named in the environment answers.
- :mod:`.shared_libraries`: an ELF file's needed libraries and which fail to load.
- :mod:`.os_release`: the Linux distribution family and its install line.
- :mod:`.gpu`: GPUs seen by the system and by PyTorch, and why one is not usable.
- :mod:`.report`: the ``convstudio doctor`` report, as data and JSON; :mod:`.report_text`
  as text (the terminal and Help > Diagnostics).
"""
