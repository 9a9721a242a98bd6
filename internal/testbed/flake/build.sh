# Builder of the testbed's fake NixOS systems, run by Nix as `/bin/sh build.sh`
# (sandbox off, PATH=/usr/bin:/bin). The derivation's attributes arrive as
# environment variables; $kind says what to build.
# shellcheck disable=SC2154 # those variables are set by Nix, not here
set -eu

# payload FILE SEED: $payloadKiB KiB of pseudo-random bytes from a fixed seed,
# so builds are reproducible and transfers carry data that does not compress.
payload() {
	key=$(printf '%s' "$2" | sha256sum | cut -c1-32)
	head -c "$((payloadKiB * 1024))" /dev/zero |
		openssl enc -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000 >"$1"
}

# refer FILE PATH...: writes store paths into FILE; Nix scans outputs for the
# hashes of their inputs, so this is what makes them references.
refer() {
	file=$1
	shift
	printf '%s\n' "$@" >"$file"
}

case $kind in
package)
	mkdir -p "$out/lib" "$out/nix-support"
	payload "$out/lib/lib$pname.so" "$name"
	# shellcheck disable=SC2086 # $deps is a space-separated list of paths
	refer "$out/nix-support/propagated-build-inputs" $deps
	if [ "$pname" = hello ]; then
		mkdir -p "$out/bin"
		printf '#!/bin/sh\necho "Hello, world!"\n' >"$out/bin/hello"
		chmod 0555 "$out/bin/hello"
	fi
	if [ -n "${bin:-}" ]; then
		mkdir -p "$bin/bin" "$bin/nix-support"
		payload "$bin/bin/$pname" "$name-bin"
		chmod 0555 "$bin/bin/$pname"
		refer "$bin/nix-support/propagated-build-inputs" "$out"
	fi
	;;
system-path)
	mkdir -p "$out/bin"
	for p in $packages; do
		for f in "$p"/bin/*; do
			if [ -e "$f" ]; then
				ln -s "$f" "$out/bin/"
			fi
		done
	done
	# shellcheck disable=SC2086 # $packages is a space-separated list of paths
	refer "$out/packages" $packages
	;;
etc)
	mkdir -p "$out/etc"
	printf '%s\n' "$hostname" >"$out/etc/hostname"
	printf 'NAME=NixOS\nID=nixos\nVERSION_ID="%s"\n' "$release" >"$out/etc/os-release"
	# shellcheck disable=SC2086 # $deps is a space-separated list of paths
	refer "$out/etc/.references" $deps
	;;
toplevel)
	mkdir -p "$out/bin"
	ln -s "$sw" "$out/sw"
	ln -s "$etc/etc" "$out/etc"
	printf '%s\n' "$behaviour" >"$out/behaviour"
	printf '%s\n' "$release" >"$out/nixos-version"
	cp "$switch" "$out/bin/switch-to-configuration"
	cp "$healthcheck" "$out/bin/healthcheck"
	chmod 0555 "$out/bin/switch-to-configuration" "$out/bin/healthcheck"
	;;
*)
	echo "build.sh: unknown kind '$kind'" >&2
	exit 1
	;;
esac
