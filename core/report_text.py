"""A design report as text: the shape table with formulas, the chain, the totals.

Used by ``convstudio check`` and by the Markdown model summary.
"""

from __future__ import annotations

from convstudio.core.shape_records import DesignReport, LayerShape, format_shape


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


def report_table(report: DesignReport) -> str:
    """The report as an aligned text table followed by notes, problems and totals."""
    rows = [("#", "layer", "kind", "output", "params", "formula"),
            ("0", "input", "", format_shape(report.input_shape), "", "")]
    notes: list[str] = []
    for layer in report.layers:
        params = "?" if layer.params is None else f"{layer.params:,}"
        marker = "  <-- ERROR" if layer.problem else ""
        rows.append((str(layer.index + 1), layer.name, layer.kind, format_shape(layer.output_shape),
                     params, layer_formula(layer) + marker))
        for formula in layer.formulas:
            if formula.note:
                notes.append(f"  note, {layer.label}: {formula.note}")
        if layer.problem:
            notes.append(f"  ERROR, {layer.label}: {layer.error}")
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    lines = []
    for row in rows:
        cells = [row[0].rjust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]),
                 row[3].ljust(widths[3]), row[4].rjust(widths[4]), row[5]]
        lines.append("  ".join(cells).rstrip())
    lines.extend(notes)
    lines.append(f"chain: {shape_chain(report)}")
    lines.append(
        f"total parameters: {report.total_params:,}   multiply-accumulates: {_human(report.total_macs)} per sample"
        f"   activation memory: {report.activation_bytes / 2**20:.2f} MiB per sample (float32)"
    )
    return "\n".join(lines)


def report_json(report: DesignReport, file: str) -> dict:
    """The machine-readable form printed by ``convstudio check --json``."""
    def shape_or_null(layer: LayerShape):
        return list(layer.output_shape) if layer.output_known else None

    return {
        "file": file,
        "valid": report.valid,
        "error": report.first_error(),
        "total_params": report.total_params,
        "layers": [
            {"index": layer.index + 1, "kind": layer.kind, "output_shape": shape_or_null(layer),
             "params": layer.params or 0, "error": layer.error}
            for layer in report.layers
        ],
    }
