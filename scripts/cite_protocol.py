"""Point citations of the vendor errata at the project's own docs/protocol.md.

docs/protocol.md keeps the errata's numbering (sections 1-8, same N.M), so a citation
moves mechanically: "errata 5.3" -> "protocol.md 5.3", "ERRATA 8.2-8.3" ->
"protocol.md 8.2-8.3", "(errata 4.1, 4.2)" -> "(protocol.md 4.1, 4.2)". Prose that
mentions the errata without a number is listed for a person to reword.

    python scripts/cite_protocol.py                 # rewrite the repository in place
    python scripts/cite_protocol.py --check         # exit 1 while any citation is left
    python scripts/cite_protocol.py facectl tests   # only these paths
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = (".py", ".md", ".sh", ".toml")
#: "errata" (any case) then a number: 5.3, 4.x, or a section alone; not "errata/eid…" URLs.
CITATION = re.compile(r"\berrata(\s+)(\d+(?:\.(?:\d+|x))?\b)", re.IGNORECASE)
#: Mentions without a number, in the code as it was when docs/protocol.md was written.
PROSE = {
    'r"errata (\\d+\\.\\d+)"': 'r"protocol\\.md (\\d+\\.\\d+)"',
    '"ERRATA: strict and canonical in what you send"': '"protocol.md: strict and canonical in what you send"',
    'f"ERRATA {ref.group(1)}"': 'f"protocol.md {ref.group(1)}"',
    "(or ERRATA item)": "(or docs/protocol.md item)",
    "the HTTPv2 document and its errata say": "the HTTPv2 document and docs/protocol.md say",
    "Errata section 7 lists the tables": "docs/protocol.md section 7 lists the tables",
    "(errata, rule of thumb)": "(docs/protocol.md, rule of thumb)",
    "an errata decision": "a decision of docs/protocol.md",
    '"errata rule of thumb"': '"protocol.md rule of thumb"',
    "in every variant the errata lists": "in every variant docs/protocol.md lists",
}
#: "errata" left after the rewrite, except inside URLs.
LEFT = re.compile(r"(?<![/\w.-])errata\b(?![/_.-]\w)", re.IGNORECASE)


def files(paths: list[str]) -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *paths], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed
            if name.endswith(SUFFIXES) and name != "scripts/cite_protocol.py" and (ROOT / name).is_file()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="files or folders (default: the whole repository)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 while citations are left")
    args = parser.parse_args()
    left = 0
    for path in files(args.paths):
        text = path.read_text(encoding="utf-8")
        new, count = CITATION.subn(r"protocol.md\1\2", text)
        for old, replacement in PROSE.items():
            count += new.count(old)
            new = new.replace(old, replacement)
        if count and not args.check:
            path.write_text(new, encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: {count} citation(s) rewritten")
        left += count if args.check else 0
        for number, line in enumerate(new.splitlines(), 1):
            if LEFT.search(line):
                print(f"{path.relative_to(ROOT)}:{number}: reword by hand: {line.strip()[:100]}")
    if args.check and left:
        print(f"{left} citation(s) of the errata left; run: python scripts/cite_protocol.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
