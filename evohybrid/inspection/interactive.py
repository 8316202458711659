"""The report's interactive Pareto front: the `ok` evaluations of every run compared, in one plotly figure whose
script report.html embeds (the page stays one file that opens offline). Its div has the element id FRONT_DIV_ID.

Plotly is imported only when the figure is written: the CLI must answer `--help` without it."""

from __future__ import annotations

from typing import Any

from ..evolution.pareto import knee_point, ok_records, pareto_front
from ..spaces.genome import Genome
from ..training.promoted import read_promoted
from .runs import RunData
from .tables import thousands

FRONT_DIV_ID = "front-interactive"  # the figure's element id in report.html, for scripts and the browser test


def hover_text(record: dict[str, Any], full_acc: float | None) -> str:
    """What a reader asks of a point: which evaluation, what network, how large, and how it did once promoted."""
    lines = [f"id {record['id']}", Genome.from_dict(record["genome"]).describe(), f"val acc {record['val_acc']:.4f}",
             f"params {thousands(record['params'])}"]
    if record.get("flops") is not None:
        lines.append(f"FLOPs {thousands(record['flops'])}")
    if full_acc is not None:
        lines.append(f"full training val acc {full_acc:.4f}")
    return "<br>".join(lines)


def _points(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Plotly's x (parameters) and y (accuracy) of the records: one place decides the axes."""
    return {"x": [record["params"] for record in records], "y": [record["val_acc"] for record in records]}


def run_traces(run: RunData, color: str) -> list[dict[str, Any]]:
    """A run's evaluations (the trace named by the run's label), its front as a step line and its knee as a star, in
    one colour and one legend group, so that a click on the legend hides the run."""
    full_acc = {row["id"]: row["val_acc"] for row in read_promoted(run.path)}
    ok = ok_records(run.records)
    front = pareto_front(run.records)
    traces = [{"type": "scatter", "mode": "markers", "name": run.label, "legendgroup": run.label, **_points(ok),
               "text": [hover_text(record, full_acc.get(record["id"])) for record in ok], "hoverinfo": "text+name",
               "marker": {"color": color, "size": 7, "opacity": 0.7}},
              {"type": "scatter", "mode": "lines", "name": f"{run.label}: Pareto front ({len(front)})",
               "legendgroup": run.label, **_points(front), "line": {"color": color, "shape": "hv"},
               "hoverinfo": "skip"}]
    knee = knee_point(front, run.chance)
    if knee is not None:
        traces.append({"type": "scatter", "mode": "markers", "name": f"{run.label}: knee (id {knee['id']})",
                       "legendgroup": run.label, **_points([knee]), "hoverinfo": "text+name",
                       "text": [hover_text(knee, full_acc.get(knee["id"]))],
                       "marker": {"color": color, "symbol": "star", "size": 18,
                                  "line": {"color": "black", "width": 1}}})
    return traces


def _chance_lines(runs: list[RunData]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A dashed line across the plot at each chance level of the runs (one for runs on the same data set), labelled."""
    levels = sorted({run.chance for run in runs})
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": level, "y1": level,
               "line": {"dash": "dash", "width": 1, "color": "#555"}} for level in levels]
    labels = [{"xref": "paper", "x": 1, "y": level, "text": f"chance {level:.4f}", "showarrow": False,
               "xanchor": "right", "yanchor": "bottom"} for level in levels]
    return shapes, labels


def front_figure(runs: list[RunData]) -> dict[str, Any]:
    """The figure as plotly's JSON: runs overlaid in plotly's default colours, parameters on a log axis."""
    from plotly.colors import qualitative

    colors = qualitative.Plotly
    shapes, labels = _chance_lines(runs)
    data = [trace for index, run in enumerate(runs) for trace in run_traces(run, colors[index % len(colors)])]
    return {"data": data, "layout": {"xaxis": {"type": "log", "title": {"text": "parameters"}},
                                     "yaxis": {"title": {"text": "validation accuracy (proxy)"}},
                                     "shapes": shapes, "annotations": labels, "height": 540,
                                     "template": "plotly_white", "hovermode": "closest"}}


def front_html(runs: list[RunData]) -> str:
    """The figure as a div with plotly's script inline: the report needs no network and no other file."""
    import plotly.io

    return plotly.io.to_html(front_figure(runs), include_plotlyjs=True, full_html=False, div_id=FRONT_DIV_ID)
