"""`evohybrid report` on two real smoke searches (NSGA-II and random search): the PNG figures decode, the HTML
embeds them and needs no other file; the front figure's chance line and knee; the interactive front, opened in
Debian's headless chromium. The figure of promoted models is checked in test_promote.py."""

from __future__ import annotations

import base64
import html
import json
import os
import random
import re
import shutil
import subprocess

import matplotlib.image
import pytest

import evohybrid
from evohybrid.cli import main
from evohybrid.evolution.pareto import knee_point, ok_records, pareto_front
from evohybrid.inspection import interactive
from evohybrid.inspection.report import FRONT_FIGURE, HYPERVOLUME_FIGURE, PROMOTED_FIGURE, REPORT_FILE, front_figure, write_report
from evohybrid.inspection.runs import RunData, load_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    config = evohybrid.load_config("smoke")
    for algorithm in ("nsga2", "random"):
        evohybrid.search(config.override("search", algorithm=algorithm), out=base / algorithm, budget=6,
                         progress=False)
    return base / "nsga2", base / "random"


def test_report_writes_decodable_figures_and_a_self_contained_page(two_runs, tmp_path, folder_listing):
    nsga2, random_search = two_runs
    nsga2 = shutil.copytree(nsga2, tmp_path / nsga2.name)  # the report goes into the run: not the shared one
    compared = folder_listing(random_search)
    written = write_report([nsga2, random_search])
    assert written == [nsga2 / REPORT_FILE, nsga2 / FRONT_FIGURE, nsga2 / HYPERVOLUME_FIGURE]
    assert not (nsga2 / PROMOTED_FIGURE).exists()  # nothing promoted, no figure for it
    for figure in written[1:]:
        assert figure.read_bytes().startswith(PNG_SIGNATURE)
        assert matplotlib.image.imread(figure).ndim == 3
    page = written[0].read_text()
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert [base64.b64decode(data) for data in embedded] == [figure.read_bytes() for figure in written[1:]]
    assert "random" in page and "nsga2" in page
    assert "Chance level 0.1000 (1 / classes)" in page  # the smoke config's Fashion-MNIST has 10 classes
    # Self-contained: no link, script or image that a browser would fetch from elsewhere. Plotly's inline script
    # holds such strings (for its map tiles and its logo's link): the markup around the scripts is checked.
    markup = re.sub(r"(<script[^>]*>).*?</script>", r"\1</script>", page, flags=re.S)
    assert not re.search(r'(src|href)="(?!data:)', markup)
    assert page.count(f'id="{interactive.FRONT_DIV_ID}"') == 1
    assert folder_listing(random_search) == compared  # the runs compared with are only read


def test_report_command_prints_what_it_wrote(two_runs, tmp_path, capsys):
    nsga2 = shutil.copytree(two_runs[0], tmp_path / two_runs[0].name)  # written into: a copy of the shared run
    assert main(["report", str(nsga2)]) == 0
    assert capsys.readouterr().out.split() == [str(nsga2 / name)
                                               for name in (REPORT_FILE, FRONT_FIGURE, HYPERVOLUME_FIGURE)]


def test_report_of_a_missing_run_is_one_line(two_runs, tmp_path, capsys, folder_listing):
    before = [folder_listing(run) for run in two_runs]
    assert main(["report", str(two_runs[0]), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err and "Traceback" not in err
    assert [folder_listing(run) for run in two_runs] == before  # no page or figure half written


def test_front_figure_draws_the_chance_line_and_a_knee_above_chance(tmp_path):
    genome = evohybrid.load_space("tiny").sample(random.Random(0)).to_dict()
    # The smallest network is below chance: were it counted, id 1 (barely above chance) would be the knee.
    points = [(0, 0.0975, 100), (1, 0.161, 200), (2, 0.2, 10_000), (3, 0.22, 1_000_000)]
    records = [{"id": i, "genome": genome, "status": "ok", "val_acc": acc, "params": params, "flops": params * 10}
               for i, acc, params in points]
    axes = front_figure(RunData(tmp_path, "run", evohybrid.Config().to_dict(), records, 0.1)).axes[0]
    chance = [line for line in axes.get_lines() if line.get_label() == "chance"]
    assert len(chance) == 1 and chance[0].get_linestyle() == "--" and list(chance[0].get_ydata()) == [0.1, 0.1]
    assert "chance" in [text.get_text() for text in axes.get_legend().get_texts()]
    assert [text.get_text() for text in axes.texts] == ["knee: id 2"]


def _tiny_run(path, records, chance=0.1):
    """A RunData over hand-made records of the tiny space (no search behind it)."""
    genome = evohybrid.load_space("tiny").sample(random.Random(0)).to_dict()
    return RunData(path, "run", evohybrid.Config().to_dict(), [{"genome": genome, **record} for record in records],
                   chance)


def test_interactive_front_marks_front_knee_chance_and_full_training_accuracy(tmp_path):
    points = [(0, 0.0975, 100), (1, 0.161, 200), (2, 0.2, 10_000), (3, 0.22, 1_000_000), (4, 0.15, 20_000)]
    run = _tiny_run(tmp_path, [{"id": i, "status": "ok", "val_acc": acc, "params": params, "flops": params * 10}
                               for i, acc, params in points] + [{"id": 5, "status": "failed"}])
    promoted = tmp_path / "promoted" / "2"
    promoted.mkdir(parents=True)
    (promoted / "metrics.json").write_text(json.dumps({"id": 2, "val_acc": 0.31, "input": {"resolution": 28}}))
    figure = interactive.front_figure([run])
    evaluations, front, knee = figure["data"]
    assert evaluations["name"] == "run" and evaluations["x"] == [100, 200, 10_000, 1_000_000, 20_000]
    assert evaluations["y"] == [0.0975, 0.161, 0.2, 0.22, 0.15]
    architecture = evohybrid.Genome.from_dict(run.records[0]["genome"]).describe()
    assert evaluations["text"][2].split("<br>") == ["id 2", architecture, "val acc 0.2000", "params 10,000",
                                                    "FLOPs 100,000", "full training val acc 0.3100"]
    assert "full training" not in evaluations["text"][3]  # not promoted
    assert front["x"] == [100, 200, 10_000, 1_000_000] and front["line"]["shape"] == "hv"
    assert knee["name"] == "run: knee (id 2)" and (knee["x"], knee["y"]) == ([10_000], [0.2])
    assert [(shape["y0"], shape["y1"]) for shape in figure["layout"]["shapes"]] == [(0.1, 0.1)]
    assert figure["layout"]["xaxis"]["type"] == "log"


def test_hover_text_leaves_out_unknown_flops(tmp_path):
    run = _tiny_run(tmp_path, [{"id": 7, "status": "ok", "val_acc": 0.5, "params": 1234}])
    assert interactive.hover_text(run.records[0], None).split("<br>")[2:] == ["val acc 0.5000", "params 1,234"]


# Before the page's scripts: every error they raise, and plotly's console errors.
PROBE_HEAD = """<script>window.pageErrors = [];
window.addEventListener("error", event => pageErrors.push(String(event.message)));
const consoleError = console.error;
console.error = (...args) => { pageErrors.push(args.join(" ")); consoleError(...args); };
</script>"""
# After them: once the page has loaded, what plotly holds and drew, written into the DOM that chromium dumps.
PROBE_BODY = """<script>window.addEventListener("load", () => {
  const figure = document.getElementById("%s");
  const result = {traces: (figure && figure.data || []).map(trace => ({name: trace.name, points: trace.x.length})),
                  drawn: figure ? figure.querySelectorAll(".scatterlayer .point").length : 0, errors: pageErrors};
  const pre = document.createElement("pre");
  pre.id = "result";
  pre.textContent = JSON.stringify(result);
  document.body.append(pre);
});</script>""" % interactive.FRONT_DIV_ID


def _open_in_chromium(page: str, folder):
    """The probe's result for `page`, opened alone from `folder` in headless chromium with no name resolving (so
    offline), its profile, home and temporary files in `folder`."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium not installed: `make browser` installs Debian's package")
    probe = folder / "probe.html"
    probe.write_text(page.replace("<head>", "<head>" + PROBE_HEAD, 1).replace("</body>", PROBE_BODY + "</body>", 1))
    # TMPDIR relative to the working folder: chromium binds its socket there, and a socket's path is at most 107
    # bytes (pytest's tmp_path can be longer).
    result = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={folder}",
                             "--host-resolver-rules=MAP * ~NOTFOUND", "--dump-dom", probe.as_uri()], cwd=folder,
                            env={**os.environ, "HOME": str(folder), "TMPDIR": "."}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    found = re.search(r'<pre id="result">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stderr
    return json.loads(html.unescape(found.group(1)))


def test_report_front_draws_every_ok_evaluation_in_a_browser(two_runs, tmp_path):
    nsga2 = shutil.copytree(two_runs[0], tmp_path / two_runs[0].name)  # written into: a copy of the shared run
    page = write_report([nsga2, two_runs[1]])[0].read_text()
    browser = tmp_path / "browser"
    browser.mkdir()
    result = _open_in_chromium(page, browser)
    assert result["errors"] == []
    runs = [load_run(path) for path in (nsga2, two_runs[1])]
    evaluations = {trace["name"]: trace["points"] for trace in result["traces"] if trace["name"] in
                   {run.label for run in runs}}
    assert evaluations == {run.label: len(ok_records(run.records)) for run in runs}
    knees = sum(knee_point(pareto_front(run.records), run.chance) is not None for run in runs)
    assert result["drawn"] == sum(evaluations.values()) + knees  # plotly drew them: one marker each, one per knee
