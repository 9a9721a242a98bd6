// Command nix-deploy builds, diffs and deploys Nix profiles over SSH.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nix-deploy-action/nix-deploy-action/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.StdIO())
	stop()
	os.Exit(code)
}
