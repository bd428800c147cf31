"""A model summary as plain text or Markdown: the shape table with formulas, notes, problems and totals.

The text form is ``convstudio check``'s table (:func:`core.report_text.report_table`)
under a title; the Markdown form is the same content as a GitHub table. A
design with impossible shapes still gets a summary: its problems are listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from convstudio.core.atomic import atomic_write_text
from convstudio.core.design import Design
from convstudio.core.export.common import ExportResult, output_file
from convstudio.core.report_text import layer_formula, report_table, shape_chain
from convstudio.core.shape_records import DesignReport, format_shape
from convstudio.core.shapes import infer_shapes

SummaryFormat = Literal["text", "markdown"]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _input_words(design: Design) -> str:
    axes = "channels x depth x height x width" if design.input.depth else "channels x height x width"
    return f"{format_shape(design.input.shape)} ({axes})"


def _totals(report: DesignReport) -> str:
    return (f"{report.total_params:,} parameters, {report.total_macs:,} multiply-accumulates per sample, "
            f"{report.activation_bytes / 2**20:.2f} MiB activation memory per sample (float32)")


def text_summary(design: Design) -> str:
    """The design's title, description and input, then ``convstudio check``'s table."""
    report = infer_shapes(design)
    lines = [design.name, "=" * len(design.name)]
    if design.description:
        lines += [design.description, ""]
    verdict = "valid" if report.valid else f"INVALID ({len(report.problems)} problem(s))"
    lines += [f"input: {_input_words(design)}; {verdict}", "", report_table(report)]
    return "\n".join(lines) + "\n"


def markdown_summary(design: Design) -> str:
    """The design as a Markdown document: a table of layers with formulas, then totals, notes and problems."""
    report = infer_shapes(design)
    lines = [f"# {design.name}", ""]
    if design.description:
        lines += [design.description, ""]
    lines += [f"Input: `{_input_words(design)}`. Output: `{format_shape(report.output_shape)}` per sample.", ""]
    if not report.valid:
        lines += [f"> **This design cannot be built:** {len(report.problems)} problem(s), listed under "
                  "Problems below; totals count only what is known.", ""]
    lines += ["| # | layer | kind | output | params | formula |",
              "|--:|:------|:-----|:-------|-------:|:--------|",
              f"| 0 | input | | {format_shape(report.input_shape)} | | |"]
    notes, problems = [], []
    for entry in report.walk():  # a block's layers follow it, numbered by their path (2.body.1)
        layer = entry.record
        params = "?" if layer.params is None else f"{layer.params:,}"
        formula = layer.merge_text or layer_formula(layer)
        formula = f"`{formula}`" if formula else ""
        own_problem = layer.problem is not None and not layer.problem.path  # blocks also carry inner ones
        if own_problem:
            formula = (formula + " **ERROR**").strip()
        name = "&nbsp;&nbsp;" * entry.depth + _cell(layer.name)
        lines.append(f"| {entry.path_text} | {name} | {layer.kind} | "
                     f"{format_shape(layer.output_shape)} | {params} | {_cell(formula)} |")
        notes += [f"- {entry.location}: {formula_.note}" for formula_ in layer.formulas if formula_.note]
        if own_problem:
            problems.append(f"- {entry.location}: {_cell(layer.error or '')}")
    lines += ["", f"**Totals:** {_totals(report)}.", "", f"Shape chain: `{shape_chain(report)}`"]
    if notes:
        lines += ["", "## Notes", "", *notes]
    if problems:
        lines += ["", "## Problems", "", *problems]
    return "\n".join(lines) + "\n"


def model_summary(design: Design, fmt: SummaryFormat = "text") -> str:
    """The summary of ``design`` as ``"text"`` or ``"markdown"``."""
    if fmt == "text":
        return text_summary(design)
    if fmt == "markdown":
        return markdown_summary(design)
    raise ValueError(f"unknown summary format {fmt!r}; use 'text' or 'markdown'")


def export_summary(design: Design, path: str | Path, fmt: SummaryFormat = "text") -> ExportResult:
    """Write :func:`model_summary` to ``path``."""
    path = output_file(path)
    atomic_write_text(path, model_summary(design, fmt))
    kind = "Markdown" if fmt == "markdown" else "text"
    return ExportResult((path,), f"wrote {path}: {kind} summary of {design.name!r}")
