#!/usr/bin/env bash
# The demo: a local fleet of three real nodes (each a mount namespace with its
# own Nix store, nix-daemon and sshd), then nix-deploy against it:
#   check the plan -> plan a new release (closure diff against what the nodes
#   run) -> deploy it -> deploy a generation that cuts SSH off (a bad network
#   config) and watch the node roll itself back -> status.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

dir=${DEMO_DIR:-/tmp/nix-deploy-demo}
bin="$dir/bin"
fleet="$dir/fleet"
mkdir -p "$bin"
go build -o "$bin/nix-deploy" ./cmd/nix-deploy
go build -o "$bin/testbed" ./cmd/testbed

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
nd() {
	echo "\$ nix-deploy $*"
	"$bin/nix-deploy" "$@"
}

"$bin/testbed" down --dir "$fleet" >/dev/null 2>&1 || true
rm -rf "$fleet"
trap '"$bin/testbed" down --dir "$fleet" >/dev/null 2>&1 || true' EXIT

step "A fleet of 3 nodes, each running release 1"
"$bin/testbed" up --nodes 3 --dir "$fleet"
cd "$fleet"
NIX_DEPLOY_SSH_KEY=$(cat id_ed25519)
export NIX_DEPLOY_SSH_KEY

step "Validate the plan (contacts nothing)"
nd check -f plan.yml

step "Release 2 for every node: what will change?"
for n in node1 node2 node3; do echo 2 >"flake/release/$n"; done
nd plan -f plan.yml --env local --diff-against target --json plan.json

step "Deploy exactly what was planned"
nd deploy -f plan.yml --env local --plan plan.json

step "Deploy it again: nothing to do"
nd deploy -f plan.yml --env local

step "Release 3 for node2 breaks its network (sshd stops after activation)"
echo break-ssh >flake/behaviour/node2
echo 3 >flake/release/node2
set +e
nd deploy -f plan.yml --env local --nodes node2
code=$?
set -e
echo "exit code: $code (3 = a node was rolled back)"

step "node2 restored its previous generation by itself"
nd status -f plan.yml --env local
