"""The tracking snippet for shops not on Shopify (integration/web/static/storepulse.js): its own
tests under Node, and checks that it stays a small file with no dependencies.

The JavaScript tests (tests/snippet) run the file in a `vm` context with stand-ins for the browser
globals it reads, and check its consent handling, visitor id, event shapes, batching and caps. They
run from a copy of tests/snippet (`npm ci` installs the committed lock file, which has no packages)
and read the snippet named by STOREPULSE_SNIPPET.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "integration" / "web" / "static" / "storepulse.js"
TESTS = ROOT / "tests" / "snippet"


@pytest.fixture(scope="module")
def npm() -> str:
    found = shutil.which("npm")
    if found is None or shutil.which("node") is None:
        pytest.skip("Node.js and npm are not installed: the snippet's JavaScript tests need them")
    return found


def test_the_snippets_javascript_passes_its_tests_under_node(npm: str, tmp_path: Path) -> None:
    work = tmp_path / "snippet"
    shutil.copytree(TESTS, work, ignore=shutil.ignore_patterns("node_modules"))
    env = {**os.environ, "STOREPULSE_SNIPPET": str(SNIPPET)}
    # `npm ci` installs exactly the lock file, and fails if it disagrees with package.json.
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tested = subprocess.run([npm, "test"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "# fail 0" in tested.stdout
    assert "# pass 0" not in tested.stdout


def test_the_snippet_is_small_and_has_no_dependencies() -> None:
    source = SNIPPET.read_text(encoding="utf-8")
    assert len(source.encode("utf-8")) < 10 * 1024
    assert re.search(r"\bimport\b", source) is None
    assert re.search(r"\brequire\s*\(", source) is None
    # A classic script: one self-contained function run at once, nothing exported.
    assert source.lstrip().startswith("/*")
    assert source.rstrip().endswith("})();")
    assert re.search(r"\bexport\b", source) is None
