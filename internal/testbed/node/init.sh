# Runs as root in a fresh mount namespace (private propagation), as
# `sh -c "$(cat init.sh)" init NODE_DIR`: makes NODE_DIR/nix, NODE_DIR/run and
# NODE_DIR/etc/nix this node's /nix, /run and /etc/nix, starts its nix-daemon
# and sshd, reports "ready DAEMON_PID SSHD_PID" on stdout and then holds the
# namespace open.
set -eu
mount --bind "$1/nix" /nix
mount --bind "$1/run" /run
# Its own Nix settings (substituters, trusted keys), apart from the host's;
# the mount point is the host's /etc/nix (there with any Nix installed).
mkdir -p /etc/nix
mount --bind "$1/etc/nix" /etc/nix
mkdir -p /run/lock /nix/var/nix/profiles/per-user /nix/var/nix/gcroots
# An empty node still has a store, with the modes Nix gives it.
mkdir -p /nix/store
chmod 1775 /nix/store
setsid nix-daemon </dev/null >>/nix/var/testbed/nix-daemon.log 2>&1 &
daemon=$!
/nix/var/testbed/sshd start
echo "ready $daemon $(cat /run/sshd.pid)"
exec sleep infinity >/dev/null 2>&1
