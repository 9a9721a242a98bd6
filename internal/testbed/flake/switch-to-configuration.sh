#!/bin/sh
# switch-to-configuration of a fake NixOS system on a testbed node.
#
# Usage: switch-to-configuration switch|boot|test|dry-activate
#
# Appends "TIME<TAB>ACTION<TAB>SYSTEM<TAB>BEHAVIOUR" to
# /nix/var/testbed/activations.log, then acts as the behaviour the system was
# built with says:
#   ok         test/switch point /run/current-system here and make sure sshd
#              runs (a rollback to an ok system restores access)
#   fail       exit 1 without activating
#   hang       never return
#   break-ssh  activate, then stop sshd (as after a bad network config)
#   unhealthy  activate like ok; bin/healthcheck of this system fails
#   slow       sleep 3s, then like ok
#   degraded   activate, report a failed unit and exit 4, as NixOS does
#   fragile    activate like ok the first time; every later test/switch of
#              this system fails (so rolling back to it fails: a node that
#              needs a human)
# boot and switch record the boot default in /nix/var/testbed/boot-default;
# dry-activate only records.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

state=/nix/var/testbed
action=${1:-}
case $action in
switch | boot | test | dry-activate) ;;
*)
	echo "usage: switch-to-configuration switch|boot|test|dry-activate" >&2
	exit 1
	;;
esac
system=$(readlink -f "$0")
system=${system%/bin/switch-to-configuration}
behaviour=$(cat "$system/behaviour")

printf '%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$action" "$system" "$behaviour" \
	>>"$state/activations.log"

if [ "$action" = dry-activate ]; then
	echo "would activate $system"
	exit 0
fi

case $behaviour in
fail)
	echo "switch-to-configuration: activating $system failed" >&2
	exit 1
	;;
fragile)
	if [ "$action" != boot ]; then
		mark="$state/activated-$(basename "$system")"
		if [ -e "$mark" ]; then
			echo "switch-to-configuration: $system can no longer be activated" >&2
			exit 1
		fi
		: >"$mark"
	fi
	;;
hang)
	exec sleep infinity
	;;
slow)
	sleep 3
	;;
esac

# Renames are atomic: a reader never sees a missing link or an empty file.
if [ "$action" = boot ] || [ "$action" = switch ]; then
	printf '%s\n' "$system" >"$state/boot-default.tmp"
	mv -f "$state/boot-default.tmp" "$state/boot-default"
fi
if [ "$action" = boot ]; then
	exit 0
fi
ln -sfn "$system" /run/current-system.tmp
mv -fT /run/current-system.tmp /run/current-system

case $behaviour in
break-ssh)
	"$state/sshd" stop
	;;
degraded)
	"$state/sshd" start
	echo "warning: the following units failed: nginx.service" >&2
	exit 4
	;;
*)
	"$state/sshd" start
	;;
esac
