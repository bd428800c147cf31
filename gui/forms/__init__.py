"""Editors generated from pydantic fields: what a field needs, the widget that edits it, and whole forms.

Constraints, descriptions and each settings field's ``EditorHint`` (label, section,
when shown) are read from the core's models (``field_specs``); ``field_editors`` and
``name_editors`` hold the widgets, ``model_form`` lays a model's editors out in sections.
"""
