#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and integration tests against real Nix,
# a real local fleet of sshd nodes, real sudo, and the fake GitHub API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
go vet ./...
go test -count=1 -timeout 30m ./... "$@"
