#!/bin/sh
# nix-deploy agent: runs on a deploy target as root (through sudo), sent on
# stdin by the runner so nothing has to be installed on the node. The
# protocol (subcommands, key=value replies, exit codes) is documented in
# agent.go. POSIX sh only: the node may be NixOS, Debian or busybox.
#
# Exit codes: 0 done (the reply says what happened), 1 error, 2 bad
# arguments, 3 wrong state for the request, 75 node busy.

set -uf
umask 077

# NIX_DEPLOY_STATE and NIX_DEPLOY_CURRENT_SYSTEM exist for test beds that run
# several "nodes" on one machine; a real node uses the defaults.
STATE=${NIX_DEPLOY_STATE:-/run/nix-deploy}
CURRENT_SYSTEM=${NIX_DEPLOY_CURRENT_SYSTEM:-/run/current-system}
# sudo's secure_path may hide the Nix tools; these are where NixOS and the
# common installers put them.
PATH=$PATH:/run/current-system/sw/bin:/nix/var/nix/profiles/default/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

fail() {
	printf 'nix-deploy-agent: %s\n' "$2" >&2
	exit "$1"
}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
now_s() { date +%s; }
# nap sleeps a little; POSIX sleep only takes whole seconds.
nap() { sleep 0.2 2>/dev/null || sleep 1; }

# --- validation: every value is checked before it reaches a command line or a
# file, and none may contain whitespace, so replies stay one token per value.

valid_id() {
	case $1 in '' | .* | -* | *[!A-Za-z0-9._-]*) return 1 ;; esac
	[ ${#1} -le 64 ]
}

h='[0-9a-z]'
STORE_HASH=$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h$h
valid_store_path() {
	case $1 in /nix/store/$STORE_HASH-*) ;; *) return 1 ;; esac
	name=${1#/nix/store/????????????????????????????????-}
	case $name in '' | *[!A-Za-z0-9+._?=-]*) return 1 ;; esac
	return 0
}

valid_abs_path() {
	case $1 in /*) ;; *) return 1 ;; esac
	case $1 in *[!A-Za-z0-9/._+-]* | */../* | */.. | */./* | */. | *//*) return 1 ;; esac
	return 0
}

valid_rel_path() {
	case $1 in '' | /* | ../* | ./* | .. | . | *[!A-Za-z0-9/._+-]* | */../* | */.. | *//*) return 1 ;; esac
	return 0
}

valid_uint() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ ${#1} -le 7 ]
}

valid_seconds() { valid_uint "$1" && [ "$1" -gt 0 ]; }

valid_user() {
	case $1 in '' | -* | *[!a-z0-9_-]*) return 1 ;; esac
	[ ${#1} -le 32 ] && id -u "$1" >/dev/null 2>&1
}

valid_word() {
	case $1 in '' | *[!a-z0-9-]*) return 1 ;; esac
	[ ${#1} -le 40 ]
}

# --- state

init_state() {
	if [ -L "$STATE" ]; then fail 1 "$STATE is a symlink"; fi
	mkdir -p "$STATE" || fail 1 "cannot create $STATE"
	chmod 700 "$STATE" || fail 1 "cannot chmod $STATE"
}

# write_file writes atomically, so readers never see half a line.
write_file() {
	printf '%s\n' "$2" >"$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"
}

read_line() {
	line=
	if [ -f "$1" ]; then IFS= read -r line <"$1" || :; fi
	printf '%s' "$line"
}

field() { # field LINE KEY: the value of KEY=... in a reply line
	for kv in $1; do
		case $kv in "$2"=*) printf '%s' "${kv#*=}" && return 0 ;; esac
	done
	return 0
}

set_status() { write_file "$dir/status" "status=$1"; }
status_line() { read_line "$dir/status"; }
state_of() { s=${1#status=} && printf '%s' "${s%% *}"; }

is_final() {
	case $1 in deployed | dry-activated | rolled-back | rollback-failed | failed) return 0 ;; esac
	return 1
}

# worker_busy reports whether a worker holds worker.lock. The probe takes the
# lock for an instant, which is why the worker waits for it (flock -w).
worker_busy() {
	[ -e "$STATE/worker.lock" ] || return 1
	if (flock -n 8) 8>>"$STATE/worker.lock"; then return 1; fi
	return 0
}

deploy_dir() {
	valid_id "$1" || fail 2 "bad deploy id"
	dir=$STATE/$1
	[ -d "$dir" ] || fail 1 "unknown deploy $1"
}

# --- profiles

generation_of() { # the generation number a profile link points at, or empty
	g=
	if [ -L "$1" ]; then
		l=$(readlink "$1") || l=
		l=${l##*/}
		g=${l#"${1##*/}"-}
		g=${g%-link}
		valid_uint "$g" || g=
	fi
	printf '%s' "$g"
}

target_of() { # the store path a profile or system link resolves to, or empty
	t=
	if [ -e "$1" ]; then t=$(readlink -f "$1") || t=; fi
	valid_store_path "$t" || t=
	printf '%s' "$t"
}

# --- subcommands

busy_reply() { # busy_reply session|worker: why the node is not ours, exit 75
	if [ "$1" = worker ]; then
		o=$(read_line "$STATE/worker.owner")
		# An older agent's worker did not record its lock.
		l=$(field "$o" lock)
		printf 'locked=busy owner=%s since=%s holder=worker activation=%s\n' \
			"${l:-$(field "$o" id)}" "$(field "$o" since)" "$(field "$o" id)"
	else
		o=$(read_line "$STATE/owner")
		printf 'locked=busy owner=%s since=%s holder=session\n' "$(field "$o" id)" "$(field "$o" since)"
	fi
	exit 75
}

cmd_lock() {
	case $# in 1 | 2) ;; *) fail 2 "usage: lock <deploy-id> [idle-seconds]" ;; esac
	valid_id "$1" || fail 2 "bad deploy id"
	idle=${2:-}
	[ -z "$idle" ] || valid_seconds "$idle" || fail 2 "bad idle seconds"
	init_state
	exec 9>>"$STATE/lock"
	flock -n 9 || busy_reply session
	if worker_busy; then busy_reply worker; fi
	write_file "$STATE/owner" "id=$1 since=$(now)"
	printf 'locked=ok owner=%s\n' "$1"
	# Hold the lock for as long as the runner's session lives: its end
	# (close or lost connection) is EOF here.
	if [ -n "$idle" ]; then hold_heartbeat "$idle"; else cat >/dev/null; fi
	rm -f "$STATE/owner" "$STATE/heartbeat"
	exit 0
}

# hold_heartbeat holds the lock until EOF or until the runner has written no
# line for $1 seconds. A runner cut off by a network partition sends no EOF:
# sshd notices the dead connection late, or never without ClientAlive
# settings, and the lock would stay taken until then. Neither helper keeps
# the lock's descriptor, so the lock goes when this shell exits.
hold_heartbeat() {
	write_file "$STATE/heartbeat" "$(now_s)"
	# An asynchronous list's stdin is /dev/null unless redirected.
	exec 3<&0
	read_heartbeats <&3 3<&- 9>&- &
	reader=$!
	exec 3<&-
	watch_heartbeats "$1" "$reader" </dev/null >/dev/null 9>&- &
	watcher=$!
	wait "$reader"
	kill "$watcher" 2>/dev/null
}

read_heartbeats() {
	while IFS= read -r _; do write_file "$STATE/heartbeat" "$(now_s)"; done
}

watch_heartbeats() { # watch_heartbeats IDLE READER-PID
	every=5
	[ "$1" -ge $every ] || every=1
	while :; do
		sleep "$every" 2>/dev/null
		last=$(read_line "$STATE/heartbeat")
		case $last in '' | *[!0-9]*) last=0 ;; esac
		if [ $(($(now_s) - last)) -ge "$1" ]; then
			printf 'nix-deploy-agent: no heartbeat from the runner for %s s: releasing the node lock\n' "$1" >&2
			kill "$2" 2>/dev/null
			exit 0
		fi
	done
}

tool_line() {
	p=$(command -v "$1" 2>/dev/null) || p=
	printf '%s=%s\n' "$1" "$p"
}

cmd_preflight() {
	for p in "$@"; do valid_abs_path "$p" || fail 2 "bad profile path"; done
	tool_line nix-env
	tool_line nix-store
	tool_line nix
	if [ -d /run/systemd/system ]; then echo systemd=1; else echo systemd=0; fi
	printf 'current-system=%s\n' "$(target_of "$CURRENT_SYSTEM")"
	for p in "$@"; do
		printf 'profile=%s current=%s generation=%s\n' "$p" "$(target_of "$p")" "$(generation_of "$p")"
	done
}

# set_param sets the activation parameter kv ("key=value") names; it
# fails on a key it does not know. start and the worker read the same keys.
set_param() {
	v=${1#*=}
	case $1 in
	path=*) path=$v ;;
	profile=*) profile=$v ;;
	mode=*) mode=$v ;;
	kind=*) kind=$v ;;
	user=*) user=$v ;;
	activate=*) activate=$v ;;
	activation-timeout=*) atimeout=$v ;;
	confirm-timeout=*) ctimeout=$v ;;
	magic-rollback=*) magic=$v ;;
	degraded=*) degraded=$v ;;
	keep-generations=*) keep=$v ;;
	*) return 1 ;;
	esac
}

cmd_start() {
	[ $# -ge 2 ] || fail 2 "usage: start <lock-id> <deploy-id> key=value..."
	valid_id "$1" || fail 2 "bad lock id"
	valid_id "$2" || fail 2 "bad deploy id"
	lock=$1 id=$2
	shift 2
	path='' profile='' mode=switch kind=nixos user=root activate=''
	atimeout=300 ctimeout=30 magic=1 degraded=fail keep=0
	for kv in "$@"; do
		set_param "$kv" || fail 2 "start: unknown argument"
	done
	valid_store_path "$path" || fail 2 "start: path must be a /nix/store path"
	[ -e "$path" ] || fail 2 "start: $path is not in this node's store"
	valid_abs_path "$profile" || fail 2 "start: profile must be an absolute path"
	case $mode in switch | boot | test | dry-activate) ;; *) fail 2 "start: bad mode" ;; esac
	case $kind in nixos | custom) ;; *) fail 2 "start: bad kind" ;; esac
	valid_user "$user" || fail 2 "start: unknown user"
	if [ "$kind" = custom ]; then
		valid_rel_path "$activate" || fail 2 "start: activate must be a relative path"
		case $mode in switch | test) ;; *) fail 2 "start: custom profiles support switch and test" ;; esac
	else
		[ -z "$activate" ] || fail 2 "start: activate is for custom profiles"
		[ "$user" = root ] || fail 2 "start: nixos profiles belong to root"
	fi
	valid_seconds "$atimeout" || fail 2 "start: bad activation-timeout"
	valid_seconds "$ctimeout" || fail 2 "start: bad confirm-timeout"
	case $magic in 0 | 1) ;; *) fail 2 "start: magic-rollback is 0 or 1" ;; esac
	case $degraded in fail | warn) ;; *) fail 2 "start: degraded is fail or warn" ;; esac
	valid_uint "$keep" || fail 2 "start: bad keep-generations"
	[ -f "$0" ] || fail 1 "start: the agent must run from a file"

	init_state
	o=$(read_line "$STATE/owner")
	if [ "$(field "$o" id)" != "$lock" ] || (flock -n 9) 9>>"$STATE/lock"; then
		fail 3 "start: the node lock is not held by deploy $lock"
	fi
	[ ! -e "$STATE/$id" ] || fail 3 "start: deploy $id exists already"
	# Under our lock, only our own workers run: the previous profile's may
	# be exiting after its final status. Wait for it, a little.
	i=0
	while worker_busy; do
		o=$(read_line "$STATE/worker.owner")
		case $(field "$o" lock) in "$lock" | '') ;; *) busy_reply worker ;; esac
		i=$((i + 1))
		[ $i -le 50 ] || busy_reply worker
		nap
	done
	dir=$STATE/$id
	mkdir "$dir" 2>/dev/null || fail 3 "start: deploy $id exists already"
	{
		printf 'path=%s\nprofile=%s\nmode=%s\nkind=%s\nuser=%s\nactivate=%s\n' \
			"$path" "$profile" "$mode" "$kind" "$user" "$activate"
		printf 'activation-timeout=%s\nconfirm-timeout=%s\nmagic-rollback=%s\ndegraded=%s\nkeep-generations=%s\n' \
			"$atimeout" "$ctimeout" "$magic" "$degraded" "$keep"
		printf 'current-system=%s\nlock=%s\n' "$CURRENT_SYSTEM" "$lock"
	} >"$dir/params" || fail 1 "start: cannot write params"
	cp "$0" "$dir/agent.sh" || fail 1 "start: cannot copy the agent"
	: >>"$dir/log"
	set_status activating

	# The worker must outlive this SSH session and must not inherit the lock
	# session's descriptors.
	sh=$(command -v sh)
	if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
		systemd-run --unit="nix-deploy-$id" --collect --quiet \
			--setenv=NIX_DEPLOY_STATE="$STATE" \
			"$sh" "$dir/agent.sh" worker "$id" </dev/null >>"$dir/log" 2>&1 ||
			fail 1 "start: systemd-run failed"
	else
		setsid "$sh" "$dir/agent.sh" worker "$id" </dev/null >>"$dir/log" 2>&1 \
			3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	fi
	# Reply only once the worker holds worker.lock, so no other deploy can
	# slip in even if this runner vanishes right now.
	i=0
	while [ ! -s "$dir/pid" ]; do
		i=$((i + 1))
		[ $i -le 100 ] || fail 1 "start: the worker did not start"
		nap
	done
	printf 'started=%s\n' "$id"
}

# wait_settled waits while the worker is busy with something other than
# awaiting confirmation, up to $1 seconds (0: no limit), or until the worker
# is gone.
wait_settled() {
	deadline=0
	[ "$1" -gt 0 ] && deadline=$(($(now_s) + $1))
	while :; do
		st=$(state_of "$(status_line)")
		if is_final "$st" || [ "$st" = awaiting-confirmation ]; then return 0; fi
		[ "$deadline" -gt 0 ] && [ "$(now_s)" -ge "$deadline" ] && return 0
		if ! worker_busy; then
			st=$(state_of "$(status_line)")
			is_final "$st" || [ "$st" = awaiting-confirmation ] || fail 1 "the worker of this deploy is gone"
			return 0
		fi
		nap
	done
}

# wait_final waits until the status is final, or the worker is gone.
wait_final() {
	while ! is_final "$(state_of "$(status_line)")"; do
		if ! worker_busy; then
			is_final "$(state_of "$(status_line)")" || fail 1 "the worker of this deploy is gone"
			return 0
		fi
		nap
	done
}

cmd_wait() {
	case $# in 1 | 2) ;; *) fail 2 "usage: wait <deploy-id> [seconds]" ;; esac
	deploy_dir "$1"
	secs=${2:-0}
	valid_uint "$secs" || fail 2 "bad seconds"
	wait_settled "$secs"
	status_line
	echo
}

cmd_status() {
	[ $# -eq 1 ] || fail 2 "usage: status <deploy-id>"
	deploy_dir "$1"
	status_line
	echo
}

cmd_confirm() {
	[ $# -eq 1 ] || fail 2 "usage: confirm <deploy-id>"
	deploy_dir "$1"
	st=$(state_of "$(status_line)")
	case $st in
	awaiting-confirmation) write_file "$dir/confirm" "confirmed=$(now)" ;;
	activating)
		status_line
		echo
		fail 3 "confirm: deploy $1 is not awaiting confirmation"
		;;
	esac
	wait_final
	status_line
	echo
}

cmd_log() {
	case $# in 1 | 2) ;; *) fail 2 "usage: log <deploy-id> [lines]" ;; esac
	deploy_dir "$1"
	lines=${2:-50}
	valid_uint "$lines" || fail 2 "bad line count"
	[ "$lines" -gt 0 ] || fail 2 "bad line count"
	[ -f "$dir/log" ] || return 0
	tail -n "$lines" "$dir/log"
}

cmd_abort() {
	[ $# -eq 2 ] || fail 2 "usage: abort <deploy-id> <reason>"
	deploy_dir "$1"
	valid_word "$2" || fail 2 "bad reason"
	is_final "$(state_of "$(status_line)")" || write_file "$dir/abort" "reason=$2"
	wait_final
	status_line
	echo
}

# --- the worker

log() { printf '[nix-deploy %s] %s\n' "$(now)" "$*"; }

# watchdog kills process group $1 after $2 seconds, leaving a mark. It
# sleeps a second at a time and ends by itself once $1 is gone, so no
# long sleep outlives the activation it watched.
watchdog() {
	left=$2
	while [ "$left" -gt 0 ]; do
		sleep 1
		kill -0 "$1" 2>/dev/null || exit 0
		left=$((left - 1))
	done
	: >"$dir/timedout"
	log "timed out after $2 s: killing the activation"
	# "kill -SIG -PGID": dash rejects the "--" form.
	kill -TERM "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null
	left=5
	while [ "$left" -gt 0 ] && kill -0 "$1" 2>/dev/null; do
		sleep 1
		left=$((left - 1))
	done
	kill -KILL "-$1" 2>/dev/null
	exit 0
}

# bounded runs a command in its own process group (a hung activation and all
# it spawned can be killed) for at most $1 seconds; rc is its status, 124 on
# timeout. The node may lack coreutils timeout, hence the watchdog.
bounded() {
	secs=$1
	shift
	rm -f "$dir/timedout"
	log "run: $*"
	if command -v setsid >/dev/null 2>&1; then
		setsid "$@" </dev/null 8>&- &
	else
		"$@" </dev/null 8>&- &
	fi
	pid=$!
	# Not holding worker.lock (fd 8): if the watchdog's sleep outlived a
	# kill that raced its start, it would keep the node busy for the whole
	# timeout.
	watchdog "$pid" "$secs" 8>&- &
	wpid=$!
	wait "$pid"
	rc=$?
	kill "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	if [ -e "$dir/timedout" ]; then rc=124; fi
	log "exit: $rc"
}

# plain runs a short command with output to the log; rc is its status.
plain() {
	log "run: $*"
	"$@" </dev/null 8>&-
	rc=$?
	[ $rc -eq 0 ] || log "exit: $rc"
}

# run_activate runs a custom profile's activation from store path $1 as the
# profile's user, under the activation timeout.
run_activate() {
	if [ "$user" = root ]; then
		bounded "$atimeout" env PROFILE="$profile" "$1/$activate"
		return
	fi
	home=$(getent passwd "$user" 2>/dev/null | cut -d: -f6)
	if command -v runuser >/dev/null 2>&1; then
		bounded "$atimeout" runuser -u "$user" -- \
			env HOME="${home:-/}" USER="$user" PROFILE="$profile" "$1/$activate"
	else
		bounded "$atimeout" setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups \
			env HOME="${home:-/}" USER="$user" PROFILE="$profile" "$1/$activate"
	fi
}

# activation_result maps rc of an activation to ok, degraded or a reason.
activation_result() {
	if [ $rc -eq 0 ]; then
		result=ok
	elif [ $rc -eq 124 ]; then
		result=activation-timeout
	elif [ $rc -eq 4 ] && [ "$kind" = nixos ]; then
		if [ "$degraded" = warn ]; then result=warn; else result=degraded; fi
	else
		result=activation-failed
	fi
}

# await_confirmation sets outcome to confirmed, not-confirmed or aborted.
await_confirmation() {
	set_status "awaiting-confirmation"
	log "awaiting confirmation for $ctimeout s"
	deadline=$(($(now_s) + ctimeout))
	while :; do
		if [ -e "$dir/abort" ]; then
			outcome=aborted
			return
		fi
		if [ -e "$dir/confirm" ]; then
			outcome=confirmed
			return
		fi
		if [ "$(now_s)" -ge "$deadline" ]; then
			outcome=not-confirmed
			return
		fi
		nap
	done
}

new_generation=
set_profile() {
	plain nix-env -p "$profile" --set "$path"
	[ $rc -eq 0 ] || return 1
	new_generation=$(generation_of "$profile")
}

# reset_profile undoes set_profile: back to the previous generation and the
# failed one deleted (deploy-rs leaves it behind), or no profile at all when
# this was the first.
reset_profile() {
	[ -n "$new_generation" ] || return 0
	if [ -n "$prev_generation" ]; then
		plain nix-env -p "$profile" --switch-generation "$prev_generation"
		[ $rc -eq 0 ] || return 1
		plain nix-env -p "$profile" --delete-generations "$new_generation"
	else
		rm -f "$profile" "$profile-$new_generation-link"
	fi
	new_generation=
}

prune() {
	[ "$keep" -gt 0 ] || return 0
	plain nix-env -p "$profile" --delete-generations "+$keep"
}

finish() {
	extra=
	[ -n "$new_generation" ] && extra=" generation=$new_generation"
	[ -n "$warning" ] && extra="$extra warning=$warning"
	log "status: $1$extra"
	set_status "$1$extra"
	rm -f "$STATE/worker.owner"
	exit 0
}

rollback() { # rollback REASON
	set_status "rolling-back reason=$1"
	log "rolling back: $1"
	ok=1
	changed=$new_generation
	reset_profile || ok=0
	if [ "$kind" = custom ]; then
		if [ -n "$prev_target" ] && [ -x "$prev_target/$activate" ]; then
			run_activate "$prev_target"
			[ $rc -eq 0 ] || ok=0
		elif [ -n "$prev_target" ]; then
			log "the previous generation has no $activate: not re-activated"
		fi
		finish_rollback "$1"
	fi
	# The boot default moved with the profile: point it back.
	if [ -n "$changed" ] && [ -n "$prev_target" ]; then
		bounded "$atimeout" "$prev_target/bin/switch-to-configuration" boot
		[ $rc -eq 0 ] || ok=0
	fi
	if [ "$mode" != boot ]; then
		if [ -n "$prev_system" ]; then
			bounded "$atimeout" "$prev_system/bin/switch-to-configuration" test
			[ $rc -eq 0 ] || [ $rc -eq 4 ] || ok=0
		else
			log "no previous system to re-activate"
			ok=0
		fi
	fi
	finish_rollback "$1"
}

finish_rollback() {
	if [ $ok -eq 1 ]; then finish "rolled-back reason=$1"; fi
	finish "rollback-failed reason=$1"
}

# confirm_or_rollback waits for the runner's confirmation when magic rollback
# is on; an abort request wins over everything.
confirm_or_rollback() {
	if [ -e "$dir/abort" ]; then rollback aborted; fi
	[ "$magic" -eq 1 ] || return 0
	await_confirmation
	case $outcome in
	confirmed) set_status "confirmed" ;;
	*) rollback "$outcome" ;;
	esac
}

cmd_worker() {
	[ $# -eq 1 ] || fail 2 "usage: worker <deploy-id>"
	deploy_dir "$1"
	id=$1
	exec >>"$dir/log" 2>&1 </dev/null
	exec 8>>"$STATE/worker.lock"
	flock -w 30 8 || {
		set_status "failed reason=worker-busy"
		exit 1
	}
	warning=
	lock=
	while IFS= read -r kv; do
		case $kv in
		current-system=*) CURRENT_SYSTEM=${kv#*=} ;;
		lock=*) lock=${kv#*=} ;;
		*) set_param "$kv" || true ;;
		esac
	done <"$dir/params"
	write_file "$STATE/worker.owner" "id=$id lock=$lock since=$(now)"
	prev_generation=$(generation_of "$profile")
	prev_target=$(target_of "$profile")
	prev_system=
	if [ "$kind" = nixos ]; then
		prev_system=$(target_of "$CURRENT_SYSTEM")
		[ -n "$prev_system" ] || prev_system=$prev_target
	fi
	write_file "$dir/previous" "generation=$prev_generation target=$prev_target system=$prev_system"
	echo $$ >"$dir/pid"
	log "deploy $id: $kind $mode $path to $profile (previous: ${prev_target:-none})"

	if [ "$kind" = custom ]; then
		set_profile || finish "failed reason=set-profile"
		run_activate "$path"
		activation_result
		[ "$result" = ok ] || rollback "$result"
		confirm_or_rollback
		prune
		finish deployed
	fi

	stc=$path/bin/switch-to-configuration
	case $mode in
	dry-activate)
		bounded "$atimeout" "$stc" dry-activate
		[ $rc -eq 0 ] || finish "failed reason=activation-failed"
		finish dry-activated
		;;
	boot)
		set_profile || finish "failed reason=set-profile"
		bounded "$atimeout" "$stc" boot
		[ $rc -eq 0 ] || rollback activation-failed
		prune
		finish deployed
		;;
	esac

	# switch and test: activate with "test" first; the profile (and with it
	# the boot default) changes only after confirmation, so a reboot before
	# then lands on the old system.
	bounded "$atimeout" "$stc" test
	activation_result
	case $result in
	ok) ;;
	warn) warning=degraded ;;
	*) rollback "$result" ;;
	esac
	confirm_or_rollback
	if [ "$mode" = switch ]; then
		set_profile || rollback boot-failed
		bounded "$atimeout" "$stc" boot
		[ $rc -eq 0 ] || rollback boot-failed
		prune
	fi
	finish deployed
}

[ $# -ge 1 ] || fail 2 "usage: agent.sh <lock|preflight|start|wait|status|confirm|abort|log> ..."
sub=$1
shift
case $sub in
lock) cmd_lock "$@" ;;
preflight) cmd_preflight "$@" ;;
start) cmd_start "$@" ;;
wait) cmd_wait "$@" ;;
status) cmd_status "$@" ;;
confirm) cmd_confirm "$@" ;;
abort) cmd_abort "$@" ;;
log) cmd_log "$@" ;;
worker) cmd_worker "$@" ;;
*) fail 2 "unknown subcommand" ;;
esac
