package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/nix-deploy-action/nix-deploy-action/internal/closure"
	"github.com/nix-deploy-action/nix-deploy-action/internal/exit"
	"github.com/nix-deploy-action/nix-deploy-action/internal/nix"
	"github.com/nix-deploy-action/nix-deploy-action/internal/render"
)

func init() {
	register(&Command{
		Name:    "diff",
		Summary: "show what changes between two closures (store paths or profile links)",
		Run: func(ctx context.Context, io IO, args []string) error {
			o, err := parseDiffFlags(args, io)
			if err != nil {
				return err
			}
			return runDiff(ctx, io, o)
		},
	})
}

// diffOptions are the flags of `nix-deploy diff`.
type diffOptions struct {
	Before, After string
	Format        string // text | nix | markdown | json
	Color         string // auto | always | never
	SizeStyle     string // auto | legacy | modern
}

func parseDiffFlags(args []string, io IO) (*diffOptions, error) {
	o := &diffOptions{}
	fs := newFlagSet("diff", "diff BEFORE AFTER [--format text|nix|markdown|json] [--color auto|always|never] [--size-style auto|legacy|modern]", io.Out)
	fs.StringVar(&o.Format, "format", "text", "output: text (per package changes), nix (exactly `nix store diff-closures`), markdown, json")
	fs.StringVar(&o.Color, "color", "auto", "colour: auto (on a terminal, unless NO_COLOR is set), always, never")
	fs.StringVar(&o.SizeStyle, "size-style", "auto", "size column of --format nix: legacy (Nix ≤ 2.32, Lix), modern (Nix ≥ 2.33), auto (ask nix)")
	// Flags may come before, between or after the two paths, as in nvd.
	var paths []string
	for {
		rest, _, err := parseFlags(fs, args)
		if err != nil {
			return nil, err
		}
		if len(rest) == 0 {
			break
		}
		paths = append(paths, rest[0])
		args = rest[1:]
	}
	if len(paths) != 2 {
		return nil, exit.Usagef("diff: expected BEFORE and AFTER, got %d path(s)", len(paths))
	}
	o.Before, o.After = paths[0], paths[1]
	if err := oneOf("format", o.Format, "text", "nix", "markdown", "json"); err != nil {
		return nil, err
	}
	if err := oneOf("color", o.Color, "auto", "always", "never"); err != nil {
		return nil, err
	}
	if err := oneOf("size-style", o.SizeStyle, "auto", "legacy", "modern"); err != nil {
		return nil, err
	}
	return o, nil
}

func oneOf(flag, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return exit.Usagef("diff: --%s must be one of %v, not %q", flag, allowed, v)
}

func runDiff(ctx context.Context, io IO, o *diffOptions) error {
	store := nix.NewStore(nix.StoreOptions{})
	defer store.Close()
	var before, after *closure.Closure
	var errBefore, errAfter error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		before, errBefore = store.Closure(ctx, o.Before)
	}()
	after, errAfter = store.Closure(ctx, o.After)
	wg.Wait()
	if errBefore != nil {
		return errBefore
	}
	if errAfter != nil {
		return errAfter
	}
	d := closure.Compare(before, after)
	color := useColor(io, o.Color)

	switch o.Format {
	case "nix":
		style := closure.Legacy
		switch o.SizeStyle {
		case "modern":
			style = closure.Modern
		case "auto":
			style = (&nix.Nix{}).DiffSizeStyle(ctx)
		}
		if color {
			_, err := io.Out.Write([]byte(d.NixANSI(style)))
			return err
		}
		_, err := io.Out.Write([]byte(d.Nix(style)))
		return err
	case "json":
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case "markdown":
		_, err := io.Out.Write([]byte(render.DiffMarkdown(d)))
		return err
	}
	fmt.Fprintf(io.Out, "<<< %s\n>>> %s\n\n", before.Root, after.Root)
	render.WriteDiffText(io.Out, d, render.DiffTextOptions{Color: color})
	return nil
}

// useColor: always, never, or auto = a terminal and no NO_COLOR.
func useColor(io IO, mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if io.Getenv != nil && io.Getenv("NO_COLOR") != "" {
		return false
	}
	return isTerminal(io.Out)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
