"""Lambda-like copies of the `sam build` output (and of the baseline), in two flavours:

- "as built": exactly what `sam build` ships. Our layer's Makefile compiles its bytecode ahead
  (unchecked-hash .pyc); the baseline is shipped as a plain pip build would, without .pyc, so
  Python compiles its modules on each cold start (/var/task and /opt are read-only in Lambda).
- "precompiled": everything, both sides, with .pyc compiled (checked-hash, PEP 552): the fair
  comparison of what the code itself costs.

The runtime packages (boto3 and its dependencies, what Lambda's python3.13 runtime provides) are
precompiled in both flavours: the runtime ships them installed, with their bytecode.
"""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BASELINE_DIR = BENCH_DIR / "baseline"
FUNCTIONS = ("PaymentsFunction", "NotificationsFunction", "ReconcileFunction")
LAYER = "EtpayLayer"
# What Lambda's python3.13 runtime ships besides the standard library (as test_built_artifacts.py).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
# The baseline's only dependency beyond the runtime.
BASELINE_LAYER_PACKAGES = ("jwt",)
MODES = ("as built", "precompiled")
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
# The interpreter the cold starts run on (the venv's base python3.13): its bytecode is what counts.
INTERPRETER = getattr(sys, "_base_executable", sys.executable)


@dataclass(frozen=True)
class Tree:
    """Where one flavour's directories are: the sys.path entries of each function, Lambda's order."""

    root: Path
    runtime: Path

    def function_path(self, function: str) -> list[str]:
        """Function dir (/var/task), layer (/opt/python); the runtime packages are appended last."""
        return [str(self.root / function), str(self.root / LAYER / "python")]

    def baseline_path(self, function: str) -> list[str]:
        return [str(self.root / "baseline" / function), str(self.root / "baseline" / "layer")]


def _copy(source: Path, target: Path, keep_bytecode: bool = False) -> None:
    ignore = None if keep_bytecode else shutil.ignore_patterns("__pycache__", "*.pyc")
    if source.is_dir():
        shutil.copytree(source, target, ignore=ignore)
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


def prepare(build_dir: Path, workdir: Path) -> dict[str, Tree]:
    if not (build_dir / LAYER / "python").is_dir():
        raise SystemExit(f"no sam build output in {build_dir}: run `make build` first")
    shutil.rmtree(workdir, ignore_errors=True)
    runtime = workdir / "runtime"
    for name in RUNTIME_PACKAGES:
        _copy(SITE_PACKAGES / name, runtime / name)
    _compile(runtime)

    trees = {}
    for mode in MODES:
        root = workdir / ("built" if mode == "as built" else "precompiled")
        for function in FUNCTIONS:
            _copy(build_dir / function, root / function, keep_bytecode=True)
        _copy(build_dir / LAYER, root / LAYER, keep_bytecode=True)
        _copy(BASELINE_DIR / "payments", root / "baseline" / "PaymentsFunction")
        _copy(BASELINE_DIR / "notifications", root / "baseline" / "NotificationsFunction")
        for name in BASELINE_LAYER_PACKAGES:
            _copy(SITE_PACKAGES / name, root / "baseline" / "layer" / name)
        if mode == "precompiled":
            _compile(root)
        trees[mode] = Tree(root=root, runtime=runtime)
    return trees


def _dir_bytes(directory: Path) -> tuple[int, int]:
    total = files = 0
    for path in directory.rglob("*"):
        if path.is_file():
            total += path.stat().st_size
            files += 1
    return total, files


def _zip_bytes(directory: Path, target: Path) -> int:
    """The deployment zip `sam package` would upload (deflate, the directory's content at its root)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    size = target.stat().st_size
    target.unlink()
    return size


def package_sizes(tree: Tree, workdir: Path) -> list[dict]:
    """Sizes of the as-built artifacts: the layer (zip root = its python/ dir's parent), each function."""
    rows = []
    entries = [(LAYER, tree.root / LAYER)] + [(function, tree.root / function) for function in FUNCTIONS]
    entries.append(("baseline layer (PyJWT)", tree.root / "baseline" / "layer"))
    for name, directory in entries:
        size, files = _dir_bytes(directory)
        rows.append(
            {"artifact": name, "bytes": size, "files": files, "zip_bytes": _zip_bytes(directory, workdir / "size.zip")}
        )
    return rows


def layer_breakdown(tree: Tree) -> list[tuple[str, int]]:
    """Bytes per top-level entry of the layer's python/ directory, largest first."""
    python = tree.root / LAYER / "python"
    sizes = {}
    for entry in python.iterdir():
        name = entry.name
        if name.endswith(".dist-info") or name.endswith(".data"):
            name = name.split("-")[0] + " (metadata)"
        sizes[name] = sizes.get(name, 0) + (_dir_bytes(entry)[0] if entry.is_dir() else entry.stat().st_size)
    return sorted(sizes.items(), key=lambda item: -item[1])


def bytecode_files(tree: Tree) -> int:
    return sum(1 for _ in tree.root.rglob("*.pyc"))
