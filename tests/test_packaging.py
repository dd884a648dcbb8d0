"""The package as `pip install` builds it: quiet, and with every module and data file.

`make demo` on a clean clone used to print about 80 lines of setuptools warnings because
bot/campaigns and bot/fonts were folders setuptools saw but `packages` did not list.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage", "web")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[zipfile.ZipFile, str]:
    """A wheel built from the checkout as `pip install /path/to/checkout` builds it."""
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("confirmbot-*.whl")
    return zipfile.ZipFile(wheel), result.stdout + result.stderr


def test_the_build_says_nothing_about_packages(built: tuple[zipfile.ZipFile, str]) -> None:
    _, output = built
    assert "absent from the `packages` configuration" not in output, output
    assert "Package would be ignored" not in output, output


def test_the_wheel_holds_every_module_and_data_file(built: tuple[zipfile.ZipFile, str]) -> None:
    wheel, _ = built
    names = set(wheel.namelist())
    expected = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert "bot/rules/heads.py" in expected  # the walk itself sees subpackages
    assert expected - names == set()
    # Nothing else of the checkout (tests, scripts, bench) is installed.
    tops = {name.split("/", 1)[0] for name in names if not name.startswith("confirmbot-")}
    assert tops == set(PACKAGES)
