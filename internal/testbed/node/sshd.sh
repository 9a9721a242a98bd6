#!/bin/sh
# Starts or stops this testbed node's sshd listener: sshd start|stop|status.
# Stopping ends only the listener; open sessions survive, as on a real
# machine whose sshd was stopped.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

config=/nix/var/testbed/sshd_config
log=/nix/var/testbed/sshd.log
pidfile=/run/sshd.pid

running() {
	[ -s "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	# A stale pid file may name a reused PID: only an sshd counts.
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(command -v sshd)" ]
}

case ${1:-} in
start)
	if running; then
		exit 0
	fi
	rm -f "$pidfile"
	mkdir -p /run/sshd
	chmod 0755 /run/sshd
	# sshd needs an absolute path to re-execute itself.
	setsid "$(command -v sshd)" -D -f "$config" -E "$log" </dev/null >/dev/null 2>&1 &
	started=$!
	# sshd writes its pid file once it listens.
	i=0
	while [ ! -s "$pidfile" ]; do
		if ! kill -0 "$started" 2>/dev/null; then
			echo "sshd exited; last lines of $log:" >&2
			tail -n 5 "$log" >&2
			exit 1
		fi
		i=$((i + 1))
		if [ "$i" -gt 200 ]; then
			echo "sshd did not start listening within 10s" >&2
			exit 1
		fi
		sleep 0.05
	done
	;;
stop)
	if ! running; then
		exit 0
	fi
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do
		sleep 0.05
	done
	rm -f "$pidfile"
	;;
status)
	running
	;;
*)
	echo "usage: sshd start|stop|status" >&2
	exit 2
	;;
esac
