"""The published metadata, not the source tree: build both wheels, install them elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_built_wheels_expose_both_adapters(tmp_path):
    dist = tmp_path / "dist"
    for project in (ROOT / "hooks", ROOT):
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(project)],
            check=True, capture_output=True, text=True,
        )
    wheels = sorted(p.name for p in dist.glob("*.whl"))
    assert [w.split("-")[0] for w in wheels] == ["foxtrot_binance", "foxtrot_hooks"]

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # The fresh environment sees the already-installed third-party dependencies, but not the
    # editable installs of our own two packages (their .pth files are not processed here).
    Path(target, "outer_site.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target", target,
         *[str(dist / w) for w in wheels]],
        check=True, capture_output=True, text=True,
    )
    code = (
        "import foxtrot_binance, foxtrot_hooks; "
        "from foxtrot_hooks import load_adapters; "
        "print(foxtrot_binance.__file__); print(foxtrot_hooks.__file__); "
        "print(sorted(load_adapters()))"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "FOXTROT_DISABLED_PLUGINS"}}
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path, env=env)
    binance_file, hooks_file, names = out.stdout.strip().splitlines()
    assert binance_file.startswith(target) and hooks_file.startswith(target)
    assert names == "['BINANCE', 'BINANCE_USDM']"
