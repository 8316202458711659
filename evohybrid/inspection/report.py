"""A run's report: PNG figures in the run directory and `report.html`, which embeds them and an interactive front of
the runs compared (interactive.py, the div `front-interactive`) with plotly's script: the page opens offline."""

from __future__ import annotations

import base64
import datetime
import html
import io
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..training.ensemble import read_ensembles
from ..training.lottery import lottery_figure, read_lottery
from ..training.promoted import model_dir, proxy_full_tau, read_promoted
from ..evolution.pareto import hypervolume, hypervolume_curve, knee_point, ok_records, pareto_front, reference_point
from .interactive import front_html
from .runs import RunData, load_run
from .tables import front_rows, thousands

REPORT_FILE = "report.html"
FRONT_FIGURE, HYPERVOLUME_FIGURE, PROMOTED_FIGURE = "front.png", "hypervolume.png", "promoted.png"
STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;font-size:90%}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;"
         "text-align:right}td.left,th.left{text-align:left}img{max-width:100%}")


def _render(figure: Figure, path: Path) -> bytes:
    """Save the figure as PNG with the Agg renderer; return the bytes for embedding."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    data = buffer.getvalue()
    path.write_bytes(data)
    return data


def _finish(figure: Figure, xlabel: str, ylabel: str, title: str, *, legend: bool = True) -> Figure:
    """Axis labels, title, grid, and the legend where there are labelled series."""
    axes = figure.axes[0]
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    if legend:
        axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    return figure


def front_figure(run: RunData) -> Figure:
    """Every `ok` evaluation as accuracy against parameters (log scale), the Pareto front, the knee labelled and
    the chance level as a dashed line."""
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    ok = ok_records(run.records)
    axes.scatter([r["params"] for r in ok], [r["val_acc"] for r in ok], s=14, color="0.6", label="evaluations")
    front = pareto_front(run.records)
    if front:
        axes.step([r["params"] for r in front], [r["val_acc"] for r in front], where="post", color="C0")
        axes.scatter([r["params"] for r in front], [r["val_acc"] for r in front], s=24, color="C0",
                     label=f"Pareto front ({len(front)})", zorder=3)
    axes.axhline(run.chance, linestyle="--", linewidth=1, color="0.3", label="chance")
    knee = knee_point(front, run.chance)
    if knee is not None:
        axes.scatter([knee["params"]], [knee["val_acc"]], s=120, facecolors="none", edgecolors="C3", zorder=4)
        axes.annotate(f"knee: id {knee['id']}", (knee["params"], knee["val_acc"]), textcoords="offset points",
                      xytext=(8, -14), color="C3")
    axes.set_xscale("log")
    return _finish(figure, "parameters", "validation accuracy (proxy)",
                   f"{run.label}: {len(ok)} of {len(run.records)} evaluations ok")


def hypervolume_figure(runs: list[RunData], reference: tuple[float, float]) -> Figure:
    """Hypervolume after each evaluation, one line per run, all against the same reference point."""
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for run in runs:
        curve = hypervolume_curve(run.records, reference)
        axes.plot(range(1, len(curve) + 1), curve, drawstyle="steps-post", label=run.label)
    return _finish(figure, "evaluations", "hypervolume (accuracy x decades of parameters)",
                   f"reference: accuracy 0, {10 ** reference[1]:,.0f} parameters")


def promoted_figure(rows: list[dict[str, Any]], tau: float | None) -> Figure:
    """Proxy accuracy of each promoted model against its validation accuracy after full training."""
    figure = Figure(figsize=(6, 4.5))
    axes = figure.add_subplot()
    axes.scatter([r["proxy_val_acc"] for r in rows], [r["val_acc"] for r in rows], color="C2")
    for row in rows:
        axes.annotate(f"id {row['id']}", (row["proxy_val_acc"], row["val_acc"]), textcoords="offset points",
                      xytext=(5, 4), fontsize=8)
    return _finish(figure, "proxy validation accuracy (search)", "validation accuracy after full training",
                   f"{len(rows)} promoted models, Kendall tau {f'{tau:.3f}' if tau is not None else 'n/a'}",
                   legend=False)


def _table(header: list[str], rows: list[list[Any]], left: int) -> str:
    """An HTML table; columns from `left` on are text (left-aligned)."""
    def cells(tag: str, values: list[Any]) -> str:
        return "".join(f"<{tag}{' class=left' if i >= left else ''}>{html.escape(str(v))}</{tag}>"
                       for i, v in enumerate(values))
    return "<table><tr>" + cells("th", header) + "</tr>" + "".join(f"<tr>{cells('td', row)}</tr>" for row in rows) \
        + "</table>"


def _image(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{html.escape(alt)}">'


def _summary_section(run: RunData) -> list[str]:
    counts = {status: sum(r.get("status") == status for r in run.records) for status in ("ok", "failed", "diverged")}
    data = run.config.get("data", {})
    return [f"<h1>evohybrid report: {html.escape(run.path.name)}</h1>",
            f"<p>{html.escape(str(data.get('dataset')))} at resolution {html.escape(str(data.get('resolution')))}, "
            f"{html.escape(run.label)}; {len(run.records)} evaluations: {counts['ok']} ok, {counts['failed']} failed, "
            f"{counts['diverged']} diverged. Written {datetime.datetime.now():%Y-%m-%d %H:%M}.</p>"]


def _front_section(run: RunData, png: bytes) -> list[str]:
    rows = [[row["id"], f"{row['val_acc']:.4f}", thousands(row["params"]), thousands(row["flops"]),
             "knee" if row["knee"] else "", "at or below" if row["chance"] else "", row["architecture"]]
            for row in front_rows([pareto_front(run.records)], run.chance)]
    return ["<h2>Accuracy and size</h2>", _image(png, "accuracy against parameters"), "<h2>Pareto front</h2>",
            f"<p>Chance level {run.chance:.4f} (1 / classes): a member at or below it is never the knee.</p>",
            _table(["id", "val acc", "params", "FLOPs", "knee", "chance", "architecture"], rows, left=4)]


def _interactive_section(runs: list[RunData]) -> list[str]:
    """The runs' fronts overlaid, to find a point's id and architecture by hovering instead of in the tables."""
    return ["<h2>Fronts compared</h2>",
            "<p>Every ok evaluation of each run: hover a point for its id, architecture, size and, once promoted, its "
            "accuracy after full training; a star marks each knee; click a run in the legend to hide it.</p>",
            front_html(runs)]


def _hypervolume_section(runs: list[RunData], reference: tuple[float, float], png: bytes) -> list[str]:
    rows = [[len(run.records), len(ok_records(run.records)), f"{hypervolume(run.records, reference):.4f}", run.label]
            for run in runs]
    return ["<h2>Hypervolume</h2>",
            "<p>Area dominated by the evaluations so far in (accuracy, log10 parameters), from a reference point "
            "shared by the runs compared.</p>", _image(png, "hypervolume against evaluations"),
            _table(["evaluations", "ok", "final hypervolume", "run"], rows, left=3)]


def _promoted_section(promoted: list[dict[str, Any]], png: bytes) -> list[str]:
    rows = [[row["id"], f"{row['proxy_val_acc']:.4f}", f"{row['val_acc']:.4f}", f"{row['test_acc']:.4f}",
             thousands(row["params"]), f"{row['train_s']:.0f}", row["epochs"], f"{row['lr']:g}", row["architecture"]]
            for row in promoted]
    return ["<h2>Promoted models</h2>", _image(png, "proxy against full-training accuracy"),
            _table(["id", "proxy acc", "val acc", "test acc", "params", "train s", "epochs", "lr", "architecture"],
                   rows, left=8)]


def _ensembles_section(ensembles: list[dict[str, Any]]) -> list[str]:
    rows = [[" + ".join(map(str, row["members"])), f"{row['val_acc']:.4f}", f"{row['test_acc']:.4f}",
             f"{max(row['member_test_accs']):.4f}", thousands(row["params"]), row["architecture"]] for row in ensembles]
    return ["<h2>Ensembles</h2>", "<p>Promoted models whose logits are averaged; the size is the sum of theirs.</p>",
            _table(["members", "val acc", "test acc", "best member's test acc", "params", "architectures"], rows,
                   left=5)]


def _lottery_section(eval_id: int, curve: list[dict[str, Any]], png: bytes) -> list[str]:
    rows = [["control" if row["control"] else row["level"], f"{row['sparsity']:.1%}", thousands(row["weights_left"]),
             f"{row['val_acc']:.4f}", f"{row['test_acc']:.4f}", f"{row['train_s']:.0f}"] for row in curve]
    return [f"<h3>Lottery ticket of model {eval_id}</h3>", _image(png, f"sparsity against accuracy, model {eval_id}"),
            _table(["level", "pruned", "weights left", "val acc", "test acc", "train s"], rows, left=6)]


def write_report(run_dirs: list[str | Path]) -> list[Path]:
    """Write the figures and `report.html` into the first run's directory; others join the hypervolume comparison.

    Returns the paths written, the HTML first.
    """
    runs = [load_run(path) for path in run_dirs]
    run = runs[0]
    reference = reference_point(each.records for each in runs)
    written = [run.path / REPORT_FILE, run.path / FRONT_FIGURE, run.path / HYPERVOLUME_FIGURE]
    parts = (_summary_section(run) + _front_section(run, _render(front_figure(run), written[1]))
             + _interactive_section(runs)
             + _hypervolume_section(runs, reference, _render(hypervolume_figure(runs, reference), written[2])))
    promoted = read_promoted(run.path)
    if promoted:
        written.append(run.path / PROMOTED_FIGURE)
        parts += _promoted_section(promoted, _render(promoted_figure(promoted, proxy_full_tau(promoted)), written[-1]))
    ensembles = read_ensembles(run.path)
    if ensembles:
        parts += _ensembles_section(ensembles)
    for row in promoted:
        curve = read_lottery(model_dir(run.path, row["id"]))
        if curve:
            written.append(run.path / f"lottery-{row['id']}.png")
            parts += _lottery_section(row["id"], curve, _render(lottery_figure(curve, str(row["id"])), written[-1]))
    written[0].write_text(f"<!doctype html><html><head><meta charset=utf-8><title>evohybrid report: "
                          f"{html.escape(run.path.name)}</title><style>{STYLE}</style></head><body>"
                          + "\n".join(parts) + "</body></html>\n")
    return written
