"""The user docs stay short and every link in them lands: a number in the README is traced
by its link to the table that holds it."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a markdown file."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_link_to_a_file_or_section_lands():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if target.startswith("http"):
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists() or anchor and anchor not in anchors(path):
                broken.append(f"{doc.name}: {target}")
    assert not broken


def test_the_readme_and_benchmarks_stay_short():
    assert len((ROOT / "README.md").read_text().splitlines()) < 150
    assert (ROOT / "docs" / "BENCHMARKS.md").stat().st_size < 20_000


def test_every_measured_claim_in_the_readme_links_to_its_benchmark():
    """A sentence of the README with a measured figure (a percentage, 'N of M', 'N times'...)
    links to a section of docs/BENCHMARKS.md."""
    text = (ROOT / "README.md").read_text()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    sentences = re.split(r"(?<=[.;])\s+", prose.replace("\n", " "))
    measured = re.compile(r"\d+(\.\d+)?%|\b\d+ of \d+\b|\d times|halves|doubles|"
                          r"\d+ points a second|several thousand")
    unlinked = [s for s in sentences if measured.search(s) and "BENCHMARKS.md#" not in s]
    assert not unlinked
    linked = set(re.findall(r"BENCHMARKS\.md#([\w-]+)", text))
    assert linked <= anchors(ROOT / "docs" / "BENCHMARKS.md")
    assert len(linked) >= 6
