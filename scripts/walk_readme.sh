#!/bin/sh
# Walk the README on a clean clone, as the district's IT person would, as far as it goes offline:
# `make demo` from nothing (quiet, exit 0), then scripts/walk_readme.py (the README's
# check-config, roster import, roster codes, report and demo commands, each checked against what
# the README says). WALK_TESTS=1 also runs `make test` there.
#
#   scripts/walk_readme.sh            # walks the last commit: commit first
set -eu

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/walk-readme.XXXXXX")
trap 'rm -rf "$work"' EXIT
git clone --quiet "$repo" "$work/confirmbot"
cd "$work/confirmbot"
echo "clean clone of $(git log --oneline -1)"

start=$(date +%s)
if ! make demo >demo.log 2>&1; then
    cat demo.log
    echo "FAIL  make demo"
    exit 1
fi
echo "ok    make demo from a clean clone: exit 0 in $(($(date +%s) - start)) s"
# pip's own notes about this machine's package index are not the project's; setuptools' are.
if grep -E "BuildBackendWarning|Package would be ignored|absent from the .packages|SetuptoolsDeprecationWarning|Traceback" demo.log; then
    echo "FAIL  make demo prints warnings or a traceback"
    exit 1
fi
echo "ok    make demo prints no setuptools warnings"
grep -q "VK API calls made by the bot" demo.log

.venv/bin/python scripts/walk_readme.py

if [ "${WALK_TESTS:-0}" = 1 ]; then
    make test
fi
