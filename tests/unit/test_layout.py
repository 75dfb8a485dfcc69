"""Package layout: ``operator/`` is a source root, never a package."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.support.controlplane import REPO


def test_stdlib_operator_still_imports() -> None:
    import operator

    assert operator.add(2, 3) == 5
    # the standard library's module, not one shadowing it from the repo or an installed package
    assert operator.__file__ is not None
    assert Path(operator.__file__).resolve().parent == Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert not (REPO / "operator" / "__init__.py").exists()
    result = subprocess.run([sys.executable, "-c", "import operator, wbauto; print(operator.itemgetter)"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_package_and_console_script() -> None:
    assert importlib.import_module("wbauto").__file__.startswith(str(REPO / "operator" / "wbauto"))
    assert shutil.which("wbauto") is not None
    result = subprocess.run(["wbauto", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("run", "crds", "validate"):
        assert command in result.stdout
