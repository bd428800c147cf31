"""A design report as text: the shape table with formulas, the chain, the totals.

Used by ``convstudio check`` and by the Markdown model summary.
"""

from __future__ import annotations

from collections.abc import Mapping

from convstudio.core.receptive_field import LayerField
from convstudio.core.shape_records import DesignReport, LayerShape, format_shape, path_text


_SHAPE_KEEPING_KINDS = frozenset({"batchnorm", "dropout", "activation", "softmax"})


def layer_formula(layer: LayerShape) -> str:
    """The layer's size formula with the user's numbers; axes with the same formula share one line."""
    if not layer.formulas:
        return ""
    texts = [formula.text for formula in layer.formulas]
    equation = f"eq. ({layer.formulas[0].equation})"
    if layer.kind.endswith("3d"):
        equation = "eq. (3)-(4), " + equation + " per axis"
    if len(set(texts)) == 1:
        axes = ", ".join(formula.axis[0].upper() for formula in layer.formulas)
        return f"{equation} {axes}: {texts[0]}"
    return f"{equation} " + "; ".join(f"{formula.axis[0].upper()}: {formula.text}" for formula in layer.formulas)


def shape_chain(report: DesignReport) -> str:
    """The input and the output of every layer that can change the shape.

    Convolutions, pooling, flatten and linear layers, e.g. ``3x32x32 -> 64x33x33
    -> ... -> 500 -> 500 -> 10``; normalisation, dropout and activations keep it.
    """
    chain = [format_shape(report.input_shape)]
    for layer in report.layers:
        if layer.kind not in _SHAPE_KEEPING_KINDS:
            chain.append(format_shape(layer.output_shape))
    return " -> ".join(chain)


def _human(count: int) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= limit:
            return f"{count / limit:.1f} {suffix}"
    return str(count)


def _field_text(fields: Mapping[str, LayerField | None] | None, path: str) -> str:
    """``7x7``, ``34x34*`` when it covers the whole input, ``?`` when unknown."""
    field = None if fields is None else fields.get(path)
    if field is None:
        return "?"
    return "x".join(map(str, field.sizes)) + ("*" if field.covers_input else "")


def _field_key(path: tuple) -> str:
    """The receptive-field table's key for a layer path: ``"3"``, ``"5.body.0"`` (0-based)."""
    return ".".join(map(str, path))


def report_table(report: DesignReport, fields: Mapping[str, LayerField | None] | None = None) -> str:
    """The report as an aligned text table followed by notes, problems and totals.

    ``fields`` (from :func:`core.receptive_field.receptive_fields_by_path`) adds
    each layer's receptive field size as the ``rf`` column.
    """
    rows = [("#", "layer", "kind", "output", "params", "rf", "formula"),
            ("0", "input", "", format_shape(report.input_shape), "", "", "")]
    notes: list[str] = []
    for entry in report.walk():
        layer = entry.record
        params = "?" if layer.params is None else f"{layer.params:,}"
        # A block carries its inner layers' problems too; they are marked where they sit.
        own_problem = layer.problem is not None and not layer.problem.path
        marker = "  <-- ERROR" if own_problem else ""
        number = str(layer.index + 1) if entry.depth == 0 else entry.path_text
        rows.append((number, "  " * entry.depth + layer.name, layer.kind, format_shape(layer.output_shape),
                     params, _field_text(fields, _field_key(entry.path)),
                     (layer.merge_text or layer_formula(layer)) + marker))
        for formula in layer.formulas:
            if formula.note:
                notes.append(f"  note, {entry.location}: {formula.note}")
        if own_problem:
            notes.append(f"  ERROR, {entry.location}: {layer.error}")
    widths = [max(len(row[column]) for row in rows) for column in range(6)]
    lines = []
    for row in rows:
        cells = [row[0].rjust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]),
                 row[3].ljust(widths[3]), row[4].rjust(widths[4]), row[5].rjust(widths[5]), row[6]]
        lines.append("  ".join(cells).rstrip())
    lines.extend(notes)
    covering = next((layer for layer in report.layers
                     if fields is not None and (field := fields.get(str(layer.index))) is not None
                     and field.covers_input), None)
    if covering is not None:
        lines.append(f"receptive field (rf, input pixels one unit sees) covers the whole input (*) "
                     f"from {covering.label} on")
    lines.append(f"chain: {shape_chain(report)}")
    lines.append(
        f"total parameters: {report.total_params:,}   multiply-accumulates: {_human(report.total_macs)} per sample"
        f"   activation memory: {report.activation_bytes / 2**20:.2f} MiB per sample (float32)"
    )
    return "\n".join(lines)


def report_json(report: DesignReport, file: str, fields: Mapping[str, LayerField | None] | None = None) -> dict:
    """The machine-readable form printed by ``convstudio check --json``.

    With ``fields``, each layer entry has ``"receptive_field"``: its size per
    spatial axis (null when it cannot be followed).
    """
    def shape_or_null(layer: LayerShape):
        return list(layer.output_shape) if layer.output_known else None

    def field_entry(path: tuple) -> dict:
        if fields is None:
            return {}
        field = fields.get(_field_key(path))
        return {"receptive_field": None if field is None else list(field.sizes)}

    def error(layer: LayerShape) -> str | None:
        if layer.problem is None or not layer.problem.path:
            return layer.error
        # A block carries its inner layers' problems: say where inside it (body > layer 2 (conv2d): ...).
        return f"{layer.location(layer.problem.path)[len(layer.label) + 3:]}: {layer.error}"

    def entry(layer: LayerShape, path: tuple) -> dict:
        data = {"index": layer.index + 1, "kind": layer.kind, "output_shape": shape_or_null(layer),
                "params": layer.params or 0, "error": error(layer), **field_entry(path)}
        if layer.stacks:
            data["merge"] = layer.merge_text
            data["children"] = [
                {"path": path_text(path + (stack.part, inner.index)), "part": stack.part, "name": inner.name,
                 **entry(inner, path + (stack.part, inner.index))}
                for stack in layer.stacks for inner in stack.layers
            ]
        return data

    return {
        "file": file,
        "valid": report.valid,
        "error": report.first_error(),
        "total_params": report.total_params,
        "layers": [entry(layer, (layer.index,)) for layer in report.layers],
    }
