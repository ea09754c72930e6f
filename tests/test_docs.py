"""docs/formats.md shows files the code writes: its example code still writes its examples."""

from __future__ import annotations

import json
import re
import runpy

from conftest import ROOT


def test_formats_examples_are_what_the_code_writes(tmp_path, monkeypatch):
    page = (ROOT / "docs" / "formats.md").read_text()
    code = re.findall(r"```python\n(.*?)```", page, re.S)[-1]
    shown = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", page, re.S)]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example.py").write_text(code)
    runpy.run_path(str(tmp_path / "example.py"))
    written = [
        json.loads((tmp_path / name).read_text())
        for name in ("metagraph.json", "architecture.json")
    ]
    assert written == shown
