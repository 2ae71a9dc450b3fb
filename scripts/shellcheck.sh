#!/bin/sh
# Lints every shell script of the repository. A guest step script runs as
# lib.sh followed by the step, so it is checked that way, as POSIX sh.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for step in provisioner/scripts/*.sh; do
	name=$(basename "$step")
	[ "$name" = lib.sh ] && continue
	cat provisioner/scripts/lib.sh "$step" >"$tmp/$name"
	shellcheck -s sh "$tmp/$name" || { echo "in $step (lines shifted by lib.sh)"; status=1; }
done
shellcheck -s sh provisioner/scripts/lib.sh scripts/*.sh test/e2e/image/*.sh test/e2e/testdata/*.sh || status=1
shellcheck .ci/run || status=1
exit $status
