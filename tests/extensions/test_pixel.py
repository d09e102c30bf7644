"""The Shopify web pixel's JavaScript (extensions/storepulse-pixel): its own tests under Node.

They run Shopify's documented event shapes through the pixel as the sandbox would (registered
with @shopify/web-pixels-extension from the committed lock file, `npm ci`), and check what it sends,
its batching and size caps, and that it stops without consent.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

PIXEL = Path(__file__).resolve().parents[2] / "extensions" / "storepulse-pixel"


@pytest.fixture(scope="module")
def npm() -> str:
    found = shutil.which("npm")
    if found is None or shutil.which("node") is None:
        pytest.skip("Node.js and npm are not installed: the pixel's JavaScript tests need them")
    return found


def test_the_pixels_javascript_passes_its_tests_under_node(npm: str, tmp_path: Path) -> None:
    work = tmp_path / "pixel"
    shutil.copytree(PIXEL, work, ignore=shutil.ignore_patterns("node_modules"))
    # `npm ci` installs exactly the lock file, and fails if it disagrees with package.json.
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=work, capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tested = subprocess.run([npm, "test"], cwd=work, capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "# fail 0" in tested.stdout
    assert "# pass 0" not in tested.stdout


def test_the_extension_is_a_strict_web_pixel_with_the_settings_storepulse_passes() -> None:
    config = tomllib.loads((PIXEL / "shopify.extension.toml").read_text())
    assert config["type"] == "web_pixel_extension"
    assert config["runtime_context"] == "strict"
    assert config["customer_privacy"]["analytics"] is True
    assert config["customer_privacy"]["marketing"] is True
    assert sorted(config["settings"]["fields"]) == ["collectUrl", "publicKey"]
    for field in config["settings"]["fields"].values():
        assert field["type"] == "single_line_text_field"
