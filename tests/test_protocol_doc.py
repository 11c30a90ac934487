"""docs/protocol.md, the project's own account of the protocol, against the code and the citations.

Code and docs cite its numbered decisions ("protocol.md 5.3"); the endpoint catalog is
written out in its section 14. These tests keep the three in step; the vendor's errata,
when checked out beside the repository, is an extra oracle for the numbering of 1-8.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import PROTOCOL_DOC

from facectl.protocol.endpoints import ENDPOINTS

ROOT = Path(__file__).resolve().parents[1]
TEXT = PROTOCOL_DOC.read_text(encoding="utf-8")
#: Numbered decisions: table rows "| 5.3 | …", and the endpoint headings "### 14.2 …".
NUMBERS = set(re.findall(r"^\| (\d+\.\d+) \|", TEXT, re.M)) | set(re.findall(r"^### (\d+\.\d+) ", TEXT, re.M))
#: A citation: "protocol.md 5.3", "protocol.md 8.2-8.3", "protocol.md 4.1, 4.2".
CITATION = re.compile(r"protocol\.md (\d+\.\d+(?:(?:-|, )\d+\.\d+)*)")


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    return [ROOT / n for n in names if n.endswith((".py", ".md", ".sh", ".toml")) and (ROOT / n).is_file()]


def _section(number: int) -> str:
    start = TEXT.index(f"\n## {number}. ")
    end = TEXT.find("\n## ", start + 1)
    return TEXT[start:] if end < 0 else TEXT[start:end]


def test_decisions_are_numbered_in_order_without_gaps() -> None:
    by_section: dict[int, list[int]] = {}
    for number in NUMBERS:
        major, minor = map(int, number.split("."))
        by_section.setdefault(major, []).append(minor)
    assert sorted(by_section) == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14]  # 7 is prose: the code tables
    for major, minors in by_section.items():
        assert sorted(minors) == list(range(1, len(minors) + 1)), major


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_section_14_names_every_endpoint_and_field_of_the_catalog(name: str) -> None:
    endpoint = ENDPOINTS[name]
    section = _section(14)
    start = section.index(f" {name}: `POST {endpoint.path}`")
    end = section.find("\n### ", start)
    text = section[start:] if end < 0 else section[start:end]
    for field in (*endpoint.request, *endpoint.detail, *endpoint.response):
        for spelling in field.names:
            assert f"`{spelling}`" in text, (name, spelling)


def test_every_citation_names_a_decision_that_exists() -> None:
    missing = []
    for path in _tracked_text_files():
        for match in CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
            for number in re.split(r"-|, ", match.group(1)):
                if number not in NUMBERS:
                    missing.append(f"{path.relative_to(ROOT)}: protocol.md {number}")
    assert not missing, missing


def test_the_repository_does_not_send_readers_outside_it() -> None:
    """README and docs point at docs/protocol.md, not at a copy beside the checkout."""
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "examples").rglob("*.md")]:
        assert "../shared" not in path.read_text(encoding="utf-8"), path


def test_sections_1_to_8_keep_the_vendor_errata_numbering(vendor_errata: str) -> None:
    theirs = set(re.findall(r"^\| (\d+\.\d+) \|", vendor_errata, re.M))
    ours = {n for n in NUMBERS if int(n.split(".")[0]) <= 8}
    assert theirs == ours
