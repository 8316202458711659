"""`evohybrid report` on two real smoke searches (NSGA-II and random search): the PNG figures decode, the HTML
embeds them and needs no other file; the front figure's chance line and knee. The figure of promoted models is
checked in test_promote.py."""

from __future__ import annotations

import base64
import random
import re
import shutil

import matplotlib.image
import pytest

import evohybrid
from evohybrid.cli import main
from evohybrid.inspection.report import (FRONT_FIGURE, HYPERVOLUME_FIGURE, PROMOTED_FIGURE, REPORT_FILE, RunData,
                                         front_figure, write_report)

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
    # Self-contained: no link, script or image that a browser would fetch from elsewhere.
    assert not re.search(r'(src|href)="(?!data:)', page)
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
