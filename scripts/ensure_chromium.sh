#!/usr/bin/env bash
# The browser tests (tests/browser) drive Debian's Chromium through Playwright: the system executable, never a
# downloaded browser. Installs it with apt when it is missing and we may (root); otherwise says how.
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian's chromium for the browser tests (one-off)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || {
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  }
  exit 0
fi
echo "error: the browser tests need Chromium at $CHROMIUM: run 'sudo apt-get install chromium'" \
     "(or set CHROMIUM_PATH to a Chromium executable)" >&2
exit 1
