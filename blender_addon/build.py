"""Build the installable extension zip: ``make addon`` (or ``python blender_addon/build.py``).

1. stage the add-on sources,
2. bundle ``rotationnet/__init__.py`` and ``rotationnet/core`` — the numpy-only
   level (camera rigs, the worker protocol) — as a wheel; nothing else of the
   package goes in, so torch and the renderer stay out,
3. run Blender's own extension tool (``blender --command extension``, here
   from the bpy module) to validate and build ``dist/rotationnet-<version>.zip``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def blender_ext_tool() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        sys.exit("bpy is not installed: pip install bpy==5.0.1 (the project's 'render' extra)")
    hits = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not hits:
        sys.exit("Blender's extension tool (blender_ext.py) not found in the bpy install")
    return hits[-1]


def build_wheel(dest: Path, version: str) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        proj = Path(tmp)
        (proj / "rotationnet").mkdir()
        shutil.copy2(ROOT / "rotationnet" / "__init__.py", proj / "rotationnet" / "__init__.py")
        shutil.copytree(ROOT / "rotationnet" / "core", proj / "rotationnet" / "core",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (proj / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "rotationnet"\nversion = "{version}"\nrequires-python = ">=3.11"\n'
            'dependencies = []\n[tool.setuptools.packages.find]\ninclude = ["rotationnet*"]\n')
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "-w", str(dest), str(proj)], check=True)
    wheels = list(dest.glob(f"rotationnet-{version}-py3-none-any.whl"))
    if not wheels:
        sys.exit(f"wheel build produced {list(dest.iterdir())}")
    return wheels[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "dist"), help="output folder")
    args = ap.parse_args(argv)
    manifest = tomllib.loads((HERE / "blender_manifest.toml").read_text())
    version = manifest["version"]
    tool = blender_ext_tool()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / manifest["id"]
        shutil.copytree(HERE, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build.py", "scenario.py",
                                                                     "write_scene.py",
                                                                     "wheels"))
        build_wheel(stage / "wheels", version)
        subprocess.run([sys.executable, str(tool), "validate", str(stage)], check=True)
        target = out / f"{manifest['id']}-{version}.zip"
        subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(stage),
                        "--output-filepath", str(target)], check=True)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
