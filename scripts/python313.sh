#!/usr/bin/env bash
# Prints the path of a Python 3.13 for make's venvs: Lambda's runtime is python3.13, and the tests
# and `sam build` use the same interpreter.
#
#   scripts/python313.sh FOUND UV
#
# FOUND is the one make found (pyenv's 3.13.0, or python3.13 on PATH), possibly empty; UV is how to
# run uv. Without FOUND, a Python 3.13 that uv manages is used, installed first if need be; where
# that is not possible either, it says plainly what to do and fails.
set -uo pipefail

found="${1:-}"
uv="${2:-uv}"  # may be "python3 -m uv": expanded unquoted below on purpose

if [ -n "$found" ]; then
  echo "$found"
  exit 0
fi
if managed="$($uv python find --managed-python 3.13 2>/dev/null)" && [ -n "$managed" ]; then
  echo "$managed"
  exit 0
fi
echo "No Python 3.13 here (no pyenv 3.13.0, no python3.13 on PATH): asking uv for one (uv python install 3.13)" >&2
if $uv python install 3.13 >&2 && managed="$($uv python find --managed-python 3.13)" && [ -n "$managed" ]; then
  echo "$managed"
  exit 0
fi
cat >&2 <<'MESSAGE'

Python 3.13 is needed (Lambda's python3.13 runtime: the tests and `sam build` use it), and there
is none here: pyenv has no 3.13.0, there is no python3.13 on PATH, and uv could not download one
(its Python builds come from GitHub, which this machine may not reach). Any one of these fixes
it; then run make again:

  uv python install 3.13                   where GitHub is reachable (or UV_PYTHON_INSTALL_MIRROR is set)
  pyenv install 3.13.0                     builds it from python.org's sources
  sudo apt-get install python3.13-venv     Debian 13 (trixie) and later, Ubuntu 24.10 and later
  make PYTHON313=/path/to/python3.13 ...   any Python 3.13 you already have

MESSAGE
exit 1
