package deploy

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the outcome of every node and profile, then the errors
// and warnings, for a terminal or a CI log.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPROFILE\tOUTCOME\tREASON\tGENERATION\tTIME")
	for _, n := range r.Nodes {
		for _, p := range n.Profiles {
			gen := ""
			if p.Generation > 0 {
				gen = strconv.Itoa(p.Generation)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, p.Name, p.Outcome, p.Reason, gen, seconds(n.Duration))
		}
		if len(n.Profiles) == 0 {
			fmt.Fprintf(tw, "%s\t-\t%s\t%s\t\t%s\n", n.Name, n.Outcome, n.Reason, seconds(n.Duration))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, n := range r.Nodes {
		if n.Error != "" && !profileErrors(n) {
			fmt.Fprintf(w, "\n%s: %s\n", n.Name, n.Error)
		}
		for _, p := range n.Profiles {
			if p.Error == "" && p.Warning == "" {
				continue
			}
			fmt.Fprintf(w, "\n%s/%s:", n.Name, p.Name)
			if p.Error != "" {
				fmt.Fprintf(w, " %s", p.Error)
			}
			if p.Warning != "" {
				fmt.Fprintf(w, " warning: %s", p.Warning)
				if len(p.FailedUnit) > 0 {
					fmt.Fprintf(w, " (failed units: %s)", strings.Join(p.FailedUnit, ", "))
				}
			}
			fmt.Fprintln(w)
			for _, l := range p.Log {
				fmt.Fprintf(w, "  | %s\n", l)
			}
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.Summary())
	return err
}

func profileErrors(n *NodeResult) bool {
	for _, p := range n.Profiles {
		if p.Error != "" {
			return true
		}
	}
	return false
}

// Summary is one line: counts per outcome and the wall time.
func (r *Result) Summary() string {
	counts := map[Outcome]int{}
	for _, n := range r.Nodes {
		counts[n.Outcome]++
	}
	var parts []string
	for _, o := range []Outcome{Deployed, DryActivated, Unchanged, RolledBack, RollbackFailed, Failed, Unreachable, Cancelled, Skipped} {
		if counts[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
		}
	}
	if len(parts) == 0 {
		parts = []string{"no nodes"}
	}
	return fmt.Sprintf("%s: %s in %s", r.ID, strings.Join(parts, ", "), seconds(r.Duration))
}

func seconds(d Duration) string {
	return time.Duration(d).Round(100 * time.Millisecond).String()
}

// WriteStatus prints nodes' profiles and generations.
func WriteStatus(w io.Writer, nodes []*NodeStatus) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPROFILE\tGEN\tDATE\tSTORE PATH")
	for _, n := range nodes {
		if n.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\terror: %s\n", n.Name, n.Error)
			continue
		}
		for _, p := range n.Profiles {
			if len(p.Generations) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t(no generations)\n", n.Name, p.Name)
			}
			for i := len(p.Generations) - 1; i >= 0; i-- {
				g := p.Generations[i]
				mark := ""
				if g.Current {
					mark = " (current)"
				}
				date := ""
				if !g.Time.IsZero() {
					date = g.Time.UTC().Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s%s\n", n.Name, p.Name, g.Number, date, g.Path, mark)
			}
		}
		if n.CurrentSystem != "" {
			fmt.Fprintf(tw, "%s\t(running)\t\t\t%s\n", n.Name, n.CurrentSystem)
		}
	}
	return tw.Flush()
}
