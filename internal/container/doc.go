// Package container is the test harness for the container action: it builds
// the repository's real Dockerfile on locally made base images (no registry
// is reachable where our tests run) and runs the image the way GitHub's
// runner runs a `runs.using: docker` action — same env, same mounts under
// /github/, same --workdir — then reads back the step's outputs, summary and
// logs.
//
// It is imported by tests only. Everything here needs a Docker Engine, root
// and debootstrap; nothing is skipped when they are missing.
//
// The one deliberate deviation from the runner is the network: the runner
// puts a container action on the job's Docker network (the default bridge,
// or the job's network when it has service containers). Our fleet listens on
// 127.x loopback addresses and the fake GitHub API on the host's loopback,
// which a bridged container cannot reach, so RunAction uses --network host.
// The build of the Go base image (not of the action's image) also uses
// --network host, only to reach the module proxy the harness serves from
// the host's Go module cache.
package container
