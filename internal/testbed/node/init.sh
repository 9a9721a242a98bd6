# Runs as root in a fresh mount namespace (private propagation), as
# `sh -c "$(cat init.sh)" init NODE_DIR`: makes NODE_DIR/nix and NODE_DIR/run
# this node's /nix and /run, starts its nix-daemon and sshd, reports
# "ready DAEMON_PID SSHD_PID" on stdout and then holds the namespace open.
set -eu
mount --bind "$1/nix" /nix
mount --bind "$1/run" /run
mkdir -p /run/lock /nix/var/nix/profiles/per-user /nix/var/nix/gcroots
# An empty node still has a store, with the modes Nix gives it.
mkdir -p /nix/store
chmod 1775 /nix/store
setsid nix-daemon </dev/null >>/nix/var/testbed/nix-daemon.log 2>&1 &
daemon=$!
/nix/var/testbed/sshd start
echo "ready $daemon $(cat /run/sshd.pid)"
exec sleep infinity >/dev/null 2>&1
