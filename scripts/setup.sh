#!/usr/bin/env bash
# Installs what nix-deploy's tests and demo need on a Debian machine, when missing:
# Nix (Debian's nix-bin) with flakes, OpenSSH server, sudo, shellcheck, and Go modules.
# Idempotent; needs root.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: run as root (the local fleet uses mount namespaces, sshd and sudo)" >&2
	exit 2
fi
if ! command -v go >/dev/null 2>&1; then
	echo "setup: Go 1.26 or newer is required (https://go.dev/dl/); it was not found on PATH" >&2
	exit 2
fi

packages=(nix-bin openssh-server openssh-client sudo shellcheck git util-linux iproute2 ca-certificates debootstrap)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The container action is built and run by the tests, as GitHub's runner
# runs it: a Docker Engine is needed.
if ! command -v docker >/dev/null 2>&1; then
	echo "setup: installing docker.io"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
	if command -v systemctl >/dev/null 2>&1; then systemctl start docker 2>/dev/null || true; fi
	docker info >/dev/null 2>&1 || echo "setup: warning: the Docker daemon is not reachable; the container tests will fail until it runs" >&2
fi

# Flakes and the nix command are experimental in Nix 2.8.
conf=/etc/nix/nix.conf
if ! grep -qE '^\s*experimental-features\s*=.*flakes' "$conf" 2>/dev/null; then
	mkdir -p /etc/nix
	echo 'experimental-features = nix-command flakes' >>"$conf"
fi

cd "$(dirname "$0")/.."
go mod download
