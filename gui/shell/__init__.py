"""The app's frame: start-up, the main window, file handling, autosave and the Export menu."""
