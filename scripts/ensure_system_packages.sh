#!/usr/bin/env bash
# Debian packages the tests use, installed with apt when missing and we may (root); otherwise says how:
# - chromium: the browser tests (tests/browser) drive the system Chromium through Playwright (never a downloaded one);
# - dataset-fashion-mnist: the image-classifier training test and `python -m retrieval.vision train fashion-mnist`.
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian packages for the tests (one-off): ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null || {
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  }
  exit 0
fi
echo "error: the tests need the Debian packages: ${missing[*]}; run 'sudo apt-get install ${missing[*]}'" \
     "(or set CHROMIUM_PATH to a Chromium executable)" >&2
exit 1
