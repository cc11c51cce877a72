"""Lambda's paths on this machine: copies of the `sam build` output and of the baselines, in two
flavours, and the packages Lambda's python3.13 runtime ships besides the standard library.

- "as built": what `sam build` ships. The layer carries bytecode compiled by layers/etpay/Makefile
  (unchecked-hash .pyc); the baselines, packaged as a plain pip build is, carry none, so Python
  compiles their modules on every cold start (/var/task and /opt are read-only in Lambda).
- "precompiled": both sides with checked-hash .pyc (PEP 552): what the code itself costs.

The runtime packages are precompiled in both: the runtime ships them installed, with bytecode.
"""

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.execution import INTERPRETER, SITE_PACKAGES
from bench.functions import Function

RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
LAYER = "EtpayLayer"
BASELINE_DIR = Path(__file__).resolve().parent / "baseline"
MODES = ("as built", "precompiled")


@dataclass(frozen=True)
class Tree:
    root: Path
    runtime: Path

    def paths(self, function: Function, side: str) -> list[str]:
        """Lambda's order: the function's directory (/var/task), its layer (/opt/python). Every
        side but the baseline is ours."""
        if side == "baseline":
            return [str(self.root / "baseline" / function.code), str(self.root / "baseline" / "layer")]
        return [str(self.root / function.name), str(self.root / LAYER / "python")]


def _copy(source: Path, target: Path, keep_bytecode: bool = True) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=None if keep_bytecode else shutil.ignore_patterns("__pycache__"))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _compile(directory: Path) -> None:
    # A child process: compileall's worker pool would re-run the benchmark's __main__.
    subprocess.run(  # noqa: S603 - our own interpreter
        [INTERPRETER, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "checked-hash", str(directory)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def prepare(build_dir: Path, workdir: Path, functions: Iterable[Function]) -> dict[str, Tree]:
    if not (build_dir / LAYER / "python").is_dir():
        raise SystemExit(f"no sam build output in {build_dir}: run `make build` first")
    shutil.rmtree(workdir, ignore_errors=True)
    runtime = workdir / "runtime"
    for name in RUNTIME_PACKAGES:
        _copy(SITE_PACKAGES / name, runtime / name, keep_bytecode=False)
    _compile(runtime)
    trees = {}
    for mode in MODES:
        root = workdir / mode.replace(" ", "-")
        _copy(build_dir / LAYER, root / LAYER)
        # The baselines' layer: PyJWT, the one library they need beyond the runtime's.
        _copy(SITE_PACKAGES / "jwt", root / "baseline" / "layer" / "jwt", keep_bytecode=False)
        for function in functions:
            _copy(build_dir / function.name, root / function.name)
            _copy(BASELINE_DIR / function.code, root / "baseline" / function.code, keep_bytecode=False)
        if mode == "precompiled":
            _compile(root)
        trees[mode] = Tree(root, runtime)
    return trees


def bytecode_files(tree: Tree) -> int:
    return sum(1 for _ in tree.root.rglob("*.pyc"))
