"""What the stack's rows say in a design with blocks: indented layers, part headers and merge rows.

The layer stack model asks here for a row's texts, tooltip and state when
the design holds a residual or concat block (plain designs keep the model's
own, faster path). A block's row reads like a layer's, with a triangle that
says whether it is expanded; beneath it come its parts (``body``,
``shortcut``, ``branch 1``...) with their layers indented, and a merge row
that shows both sides of the sum or the concatenation. Plain functions over
the document's design, report and row layout; no widgets.
"""

from __future__ import annotations

from convstudio.core.layer_paths import layer_at, part_label
from convstudio.core.layers import BLOCK_KINDS, inner_stacks
from convstudio.core.shape_records import DesignReport, LayerShape, format_shape
from convstudio.gui.designer.layer_text import kind_title, layer_settings
from convstudio.gui.designer.stack_rows import LAYER, MERGE, PART, StackRow

INDENT = "\u2003"  # an em space per level: wide enough to read as indentation in any font
EXPANDED, COLLAPSED = "▾ ", "▸ "
MERGE_SYMBOL = {"residual": "⊕ sum", "concat": "⧺ join"}


def find_record(report: DesignReport, path) -> LayerShape | None:
    """The shape record at a layer path, or None when the report does not reach it."""
    try:
        record = report.layers[path[0]]
        for part, index in zip(path[1::2], path[2::2]):
            record = record.stack(part).layers[index]
        return record
    except (AttributeError, IndexError, KeyError):
        return None


def _state(report: DesignReport, row: StackRow, failing: bool) -> str:
    if failing:
        return "error"
    problems = report.problems
    if problems and row.top_index is not None and row.top_index > problems[0].index:
        return "affected"
    return "ok"


def block_row_view(document, row: StackRow, columns: int, field_text: str) -> tuple[tuple[str, ...], str | None, str]:
    """(texts by column, tooltip, state) of a layer, part or merge row of a design with blocks."""
    design, report = document.design, document.report
    indent = INDENT * row.depth
    blank = ("",) * columns
    if row.role == LAYER:
        layer = layer_at(design.layers, row.path)
        record = find_record(report, row.path)
        marker = ""
        if layer.kind in BLOCK_KINDS:
            marker = COLLAPSED if document.is_collapsed(row.path) else EXPANDED
        name = record.name if record is not None else layer.kind
        failing = record is not None and record.problem is not None
        output = format_shape(record.output_shape if record else None) + ("  ✖" if failing else "")
        params = "?" if record is None or record.params is None else f"{record.params:,}"
        texts = (f"{indent}{marker}{name}  ({kind_title(layer.kind)})", layer_settings(layer), output, params,
                 field_text)
        tooltip = None
        if failing:
            tooltip = f"{record.where}: {record.problem}"
        elif record is not None:
            tooltip = "\n".join(formula.note for formula in record.formulas if formula.note) or None
        return texts[:columns] + blank[len(texts):], tooltip, _state(report, row, failing)
    block_path = row.path[:-1] if row.role == PART else row.path
    record = find_record(report, block_path)
    if row.role == PART:
        part = row.path[-1]
        block = layer_at(design.layers, block_path)
        empty = not dict(inner_stacks(block))[part]
        settings = ("identity: the input itself" if part == "shortcut" else "the input itself") if empty else ""
        output = ""
        if record is not None:
            try:
                output = format_shape(record.stack(part).output_shape)
            except KeyError:
                output = ""
        texts = (f"{indent}{part_label(part)}", settings, output, "", "")
        tooltip = f"Drop layers here to add them to the {part_label(part)} of this block."
        state = _state(report, row, False)
        return texts[:columns] + blank[len(texts):], tooltip, "part" if state == "ok" else state
    # The merge row: both sides of the sum (or the joined branches) and the block's output.
    kind = record.kind if record is not None else "residual"
    merge_failing = record is not None and record.problem is not None and not record.problem.path
    symbol = MERGE_SYMBOL.get(kind, "merge")
    block = layer_at(design.layers, block_path)
    if kind == "residual":
        symbol += f", then {block.activation}" if block.activation != "none" else ""
    merge_text = record.merge_text if record is not None else ""
    output = format_shape(record.output_shape if record else None) + ("  ✖" if merge_failing else "")
    texts = (f"{indent}{symbol}", merge_text, output, "", "")
    tooltip = f"{record.where}: {record.problem}" if merge_failing else (merge_text or None)
    state = _state(report, row, merge_failing)
    return texts[:columns] + blank[len(texts):], tooltip, "part" if state == "ok" else state


def row_number_text(row: StackRow) -> str:
    """The number in the stack's left margin: "in", a top-level layer's 1-based position, or nothing inside blocks."""
    if row.role == LAYER and len(row.path) == 1:
        return str(row.path[0] + 1)
    return "in" if not row.path and row.role not in (PART, MERGE) else ""
