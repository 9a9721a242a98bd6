package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// namespaceMembers finds the processes of each node by scanning /proc:
// recorded PIDs are not enough, since anything a deploy starts on a node
// (detached agents too) belongs to it, and namespace inodes are not either:
// nix-daemon moves into a mount namespace of its own, and the kernel reuses
// the inode numbers of namespaces that are gone. A process belongs to the
// node whose node-id file it sees at /nix/var/testbed/node-id.
func namespaceMembers(nodes []*Node) (map[*Node][]int, error) {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	byID := map[string]*Node{}
	for _, n := range nodes {
		byID[n.identity()] = n
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	members := map[*Node][]int{}
	nodeOfNS := map[string]*Node{} // one read of node-id per namespace
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Processes that ended meanwhile, and zombies, have no namespace.
		ns, err := os.Readlink("/proc/" + e.Name() + "/ns/mnt")
		if err != nil || ns == self {
			continue
		}
		n, seen := nodeOfNS[ns]
		if !seen {
			id, err := os.ReadFile("/proc/" + e.Name() + "/root" + nodeIDOnNode)
			if err == nil {
				n = byID[strings.TrimSpace(string(id))]
			}
			nodeOfNS[ns] = n
		}
		if n != nil {
			members[n] = append(members[n], pid)
		}
	}
	return members, nil
}

// stopNamespaces ends every process of the nodes' namespaces and waits
// until none is left: SIGTERM first, SIGKILL after a grace period. When the
// last process of a namespace ends, the kernel drops its mounts.
func stopNamespaces(ctx context.Context, nodes []*Node) error {
	const grace = time.Second
	start := time.Now()
	for {
		members, err := namespaceMembers(nodes)
		if err != nil {
			return err
		}
		if len(members) == 0 {
			return nil
		}
		sig := syscall.SIGTERM
		if time.Since(start) > grace {
			sig = syscall.SIGKILL
		}
		for _, pids := range members {
			for _, pid := range pids {
				if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
					return fmt.Errorf("kill %d: %w", pid, err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for node processes to end: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
