#!/usr/bin/env bash
# Create or refresh the project's virtual environment in .venv, idempotently.
#   scripts/setup.sh demo   what the offline demo needs
#   scripts/setup.sh test   everything the test suite needs (a superset of demo)
# A second run with unchanged inputs does nothing: a stamp in the venv records what was installed.
#
# Which releases: by default the exact versions in constraints.txt, the set CI tested (`pip install -c`). With
# AIAAS_DEPS=latest the package's own ranges resolve to today's newest releases instead, in .venv-latest, so that
# drift is seen on purpose (`AIAAS_DEPS=latest bash scripts/test.sh`); scripts/lock.sh writes constraints.txt anew
# from such an environment. The venv's path is printed on stdout; everything else goes to stderr.
set -euo pipefail
profile="${1:-test}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
case "${AIAAS_DEPS:-locked}" in
  locked) venv="${AIAAS_VENV:-$root/.venv}"; constraints=(-c "$root/constraints.txt") ;;
  latest) venv="${AIAAS_VENV:-$root/.venv-latest}"; constraints=() ;;
  *) echo "AIAAS_DEPS must be 'locked' (default) or 'latest'" >&2; exit 2 ;;
esac

case "$profile" in
  demo) extras="edge,serve,compile,models,aws,dev" ;;
  test) extras="edge,serve,compile,models,tf,openvino,sign,aws,functions,text,images,plot,explain-ref,dev" ;;
  *) echo "usage: scripts/setup.sh [demo|test]" >&2; exit 2 ;;
esac

"$python" - <<'PY' || { echo "aiaas needs Python >= 3.10 (set PYTHON=/path/to/python3.10+)" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

stamp_key="$(cat "$root/pyproject.toml" "$root/scripts/setup.sh" "$root/constraints.txt" | sha256sum | cut -c1-16)"
stamp_key="$stamp_key-${AIAAS_DEPS:-locked}-$extras"
stamp="$venv/.aiaas-setup"
if [ -f "$stamp" ] && grep -qx "$stamp_key" "$stamp"; then
  echo "$venv"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv" >&2
  "$python" -m venv "$venv"
fi
pip() {
  # This machine's pip config names local indexes that may be absent: drop those warnings, keep real errors.
  "$venv/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location '" >&2)
}
pip install --upgrade pip "setuptools>=77" wheel >/dev/null
# torch first and pinned: an unpinned torch (or one pulled in by a dependency) is a multi-GB CUDA build.
echo "setup: installing torch==2.13.0 (CPU build)" >&2
pip install "torch==2.13.0"
echo "setup: installing aiaas-sdk[$extras] (editable, ${AIAAS_DEPS:-locked} releases)" >&2
pip install "${constraints[@]}" -e "$root[$extras]" "torch==2.13.0"
grep -vx ".*-$extras" "$stamp" 2>/dev/null > "$stamp.tmp" || true
echo "$stamp_key" >> "$stamp.tmp"
mv "$stamp.tmp" "$stamp"
echo "setup: ready ($venv)" >&2
echo "$venv"
