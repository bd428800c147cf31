"""Text and Markdown summaries: the shape engine's table, formulas, totals and problems."""

import re

import pytest

from convstudio.core.export import ExportError, export_summary, model_summary
from convstudio.core.presets import load_preset, preset_keys
from convstudio.core.report_text import layer_formula, report_table
from convstudio.core.shapes import infer_shapes


def table_rows(markdown):
    return [line for line in markdown.splitlines() if line.startswith("|")]


def cells(row):
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


@pytest.mark.parametrize("key", preset_keys())
def test_markdown_table_has_a_row_per_layer_with_shapes_params_and_formulas(key):
    design = load_preset(key)
    report = infer_shapes(design)
    markdown = model_summary(design, "markdown")
    assert markdown.startswith(f"# {design.name}\n")
    rows = table_rows(markdown)
    assert cells(rows[0]) == ["#", "layer", "kind", "output", "params", "formula"]
    body = [cells(row) for row in rows[2:]]
    entries = list(report.walk())  # a block's inner layers follow it, indented
    assert len(body) == len(entries) + 1 and all(len(row) == 6 for row in body)
    assert body[0][:4] == ["0", "input", "", "x".join(map(str, design.input.shape))]
    for row, entry in zip(body[1:], entries):
        layer = entry.record
        assert row[0] == entry.path_text
        assert row[1:5] == ["&nbsp;&nbsp;" * entry.depth + layer.name, layer.kind,
                            "x".join(map(str, layer.output_shape)), f"{layer.params:,}"]
        formula = layer.merge_text or layer_formula(layer)
        assert row[5] == (f"`{formula}`" if formula else "")
    assert f"{report.total_params:,} parameters" in markdown
    assert "## Problems" not in markdown and "cannot be built" not in markdown


def test_text_summary_is_the_check_table_under_a_title():
    design = load_preset("lenet")
    text = model_summary(design)
    assert text.startswith(f"{design.name}\n{'=' * len(design.name)}\n")
    assert "input: 1x28x28 (channels x height x width); valid" in text
    assert report_table(infer_shapes(design)) in text


def test_invalid_design_lists_its_problems():
    design = load_preset("lenet").model_copy(deep=True)
    design.layers[1].kernel_size = 100  # average pooling larger than its input
    report = infer_shapes(design)
    markdown = model_summary(design, "markdown")
    assert "> **This design cannot be built:** 1 problem(s)" in markdown
    problems = markdown.split("## Problems\n\n", 1)[1].strip().splitlines()
    assert problems == [f"- layer 2 (avgpool2d): {report.layers[1].error}"]
    rows = table_rows(markdown)
    assert rows[4].startswith("| 2 | avgpool1 |") and rows[4].endswith("**ERROR** |")
    assert all("ERROR" not in row for row in rows[:4] + rows[5:])
    assert "INVALID (1 problem(s))" in model_summary(design, "text")


def test_markdown_notes_say_which_rows_are_dropped():
    design = load_preset("shapes_small").model_copy(deep=True)
    design.layers[0].stride = 2
    design.layers[0].padding = 0  # (32 - 3) / 2 is not whole: the last row and column are dropped
    markdown = model_summary(design, "markdown")
    notes = markdown.split("## Notes\n\n", 1)[1].splitlines()
    assert notes[0] == "- layer 1 (conv2d): height: 29 is not a multiple of s = 2, so the last row of the input is never covered and dropped"


def test_export_summary_writes_the_file(tmp_path):
    design = load_preset("volume3d")
    result = export_summary(design, tmp_path / "out" / "summary.md", "markdown")
    assert result.files == (tmp_path / "out" / "summary.md",)
    assert (tmp_path / "out" / "summary.md").read_text(encoding="utf-8") == model_summary(design, "markdown")
    with pytest.raises(ValueError, match="unknown summary format"):
        model_summary(design, "html")
    with pytest.raises(ExportError, match="is a folder"):
        export_summary(design, tmp_path, "text")
