#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and integration tests against real Nix,
# a real local fleet of sshd nodes, real sudo, and the fake GitHub API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
unformatted=$(gofmt -l cmd internal)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
shellcheck scripts/*.sh .ci/run
go vet ./...
go test -race -count=1 -timeout 30m ./... "$@"
