package config

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Select returns the nodes of environment env (every node of the plan when
// env is ""), narrowed by selector: a comma-separated list of node names,
// @tags and globs ("web1,@db,web*"); an empty selector keeps them all.
// Nodes come in plan order. Anything that matches nothing is an error
// (Errors, exit 2): a typo must not deploy to fewer nodes than meant.
func (p *Plan) Select(env, selector string) ([]*Node, error) {
	pool := p.Nodes
	if env != "" {
		e, ok := p.Environments[env]
		if !ok {
			return nil, Errors{{Field: "environment", Msg: fmt.Sprintf("unknown environment %q%s", env, suggest(env, "environments", p.EnvironmentNames))}}
		}
		pool = nil
		for _, name := range e.Nodes {
			if n := p.Node(name); n != nil {
				pool = append(pool, n)
			}
		}
	}
	if strings.TrimSpace(selector) == "" {
		return pool, nil
	}
	where := "the plan"
	if env != "" {
		where = "environment " + env
	}
	var errs Errors
	fail := func(format string, args ...any) {
		errs = append(errs, &Error{Field: "selector", Msg: fmt.Sprintf(format, args...)})
	}
	chosen := map[string]bool{}
	for _, item := range strings.Split(selector, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			fail("empty item in %q", selector)
		case strings.HasPrefix(item, "@"):
			tag := item[1:]
			matched := false
			for _, n := range pool {
				if slices.Contains(n.Tags, tag) {
					chosen[n.Name], matched = true, true
				}
			}
			switch {
			case matched:
			case slices.Contains(p.tags(), tag):
				fail("no node of %s has tag %s", where, item)
			default:
				fail("no node of %s has tag %s%s", where, item, suggest(tag, "tags", p.tags()))
			}
		case strings.ContainsAny(item, "*?["):
			if _, err := path.Match(item, ""); err != nil {
				fail("%q is not a valid glob", item)
				continue
			}
			matched := false
			for _, n := range pool {
				if ok, _ := path.Match(item, n.Name); ok {
					chosen[n.Name], matched = true, true
				}
			}
			if !matched {
				fail("%q matches no node of %s", item, where)
			}
		case p.Node(item) == nil:
			fail("unknown node %s%s", item, didYouMean(item, p.nodeNames()))
		case !slices.ContainsFunc(pool, func(n *Node) bool { return n.Name == item }):
			fail("node %s is not in %s", item, where)
		default:
			chosen[item] = true
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var out []*Node
	for _, n := range pool {
		if chosen[n.Name] {
			out = append(out, n)
		}
	}
	return out, nil
}

func (p *Plan) nodeNames() []string {
	names := make([]string, len(p.Nodes))
	for i, n := range p.Nodes {
		names[i] = n.Name
	}
	return names
}

func (p *Plan) tags() []string {
	var tags []string
	for _, n := range p.Nodes {
		for _, t := range n.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	return tags
}
