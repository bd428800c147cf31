"""Editors generated from pydantic fields: what a field needs, and the widget that edits it."""
