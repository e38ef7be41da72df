#!/bin/sh
# update-golden.sh [BUILD_DIR] — regenerate tests/golden/*/*.expected from the
# klc built in BUILD_DIR (default: build), then show what changed.  Review the
# diff before committing: every change is a change of what users see.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$here/build"}
cmake --build "$build" --target klc
KLC_UPDATE_GOLDEN=1 ctest --test-dir "$build" -L golden -LE golden-selftest --output-on-failure
if command -v git >/dev/null 2>&1 && git -C "$here" rev-parse >/dev/null 2>&1; then
  git -C "$here" status --short -- tests/golden
fi
