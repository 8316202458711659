"""MkDocs hooks: pages made from files that live elsewhere, so nothing is written twice.

The README is the home page, the CHANGELOG and results/README.md (the run folder) pages, each study's README (beside its data in results/studies/) a page
with the figures it shows, and the CLI reference is written from the parser itself. Links keep working on both
sides: a page links to the file where it lives in the repository, and the site rewrites the link to the page.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
STUDIES = ROOT / "results" / "studies"
LINK = re.compile(r"(\]\()([^)\s#]+)((?:#[^)\s]*)?\))")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:

_sources: dict[str, Path] = {}  # the site path of each page -> the file it was written from


def site_path(source: Path) -> str | None:
    """Where a repository file appears on the site, or None if it does not."""
    try:
        relative = source.relative_to(ROOT).as_posix()
    except ValueError:
        return None
    if relative.startswith("docs/"):
        return relative.removeprefix("docs/")
    if relative.startswith("results/studies/"):
        return "studies/" + relative.removeprefix("results/studies/")
    return {"README.md": "index.md", "CHANGELOG.md": "changelog.md",
            "results/README.md": "reference/run-folder.md"}.get(relative)


def external_pages() -> list[Path]:
    """The Markdown files outside docs/ that the site publishes as pages."""
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "results" / "README.md",
            *sorted(STUDIES.glob("**/README.md"))]


def linked_files(source: Path) -> list[Path]:
    """The repository files that a page's links and images point at."""
    targets = (match.group(2) for match in LINK.finditer(source.read_text()))
    return [(source.parent / target).resolve() for target in targets if not EXTERNAL.match(target)]


def on_files(files: Files, config) -> Files:
    from evohybrid.cli import build_parser
    from evohybrid.cli.reference import reference_markdown

    _sources.clear()
    for file in files.documentation_pages():
        _sources[file.src_uri] = DOCS / file.src_uri
    for source in external_pages():
        uri = site_path(source)
        _sources[uri] = source
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    # Figures and data a study page links to are published beside it.
    for source in list(_sources.values()):
        for target in linked_files(source):
            uri = site_path(target)
            if uri and target.is_file() and target.suffix != ".md" and uri.startswith("studies/") \
                    and files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(target)))
    files.append(File.generated(config, "reference/cli.md", content=reference_markdown(build_parser())))
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    source = _sources.get(page.file.src_uri)
    if source is None:  # generated from the parser: no links to rewrite
        return markdown
    here = posixpath.dirname(page.file.src_uri)

    def rewrite(match: re.Match) -> str:
        target = match.group(2)
        if EXTERNAL.match(target):
            return match.group(0)
        uri = site_path((source.parent / target).resolve())
        if uri is None:  # left as written: the strict build names the link that leads nowhere
            return match.group(0)
        return match.group(1) + posixpath.relpath(uri, here or ".") + match.group(3)

    return LINK.sub(rewrite, markdown)
