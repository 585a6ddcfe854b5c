"""The stylesheet and the script as a browser reads them: a slip that a browser forgives silently (an
unclosed block swallows every rule after it) fails here instead."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[1] / "vectis" / "static"


def test_every_css_block_is_closed_where_it_opens() -> None:
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "css" / "vectis.css").read_text(), flags=re.S)
    css = re.sub(r'"(?:\\.|[^"\\])*"', '""', css)  # braces inside content: "…" strings are not blocks
    depth = 0
    for number, line in enumerate(css.splitlines(), 1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"vectis.css line {number} closes a block that is not open"
        # Top-level rules and @media blocks only: nothing nests deeper than a rule inside an @media.
        assert depth <= 2, f"vectis.css line {number} opens a block inside a rule"
    assert depth == 0, "vectis.css ends inside an open block: the rules after the unclosed one are swallowed"


@pytest.mark.skipif(shutil.which("node") is None, reason="node checks the script's syntax where it is installed")
def test_the_script_parses() -> None:
    checked = subprocess.run(
        ["node", "--check", str(STATIC / "vectis.js")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
