"""`evohybrid report` on two real smoke searches (NSGA-II and random search): the PNG figures decode, the HTML
embeds them and needs no other file. The figure of promoted models is checked in test_promote.py."""

from __future__ import annotations

import base64
import re
import shutil

import matplotlib.image
import pytest

import evohybrid
from evohybrid.cli import main
from evohybrid.inspection.report import FRONT_FIGURE, HYPERVOLUME_FIGURE, PROMOTED_FIGURE, REPORT_FILE, write_report

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
