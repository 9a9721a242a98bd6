package config

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

var environmentKeys = []string{"nodes", "strategy", "max-parallel", "canary", "on-failure", "url"}

// envRef is one entry of an environment's node list: a node name or @tag.
type envRef struct {
	text  string
	pos   Pos
	field string
}

func (w *walker) environments(plan *Plan, p pair) {
	pairs, _ := w.mapping(p.v, "environments")
	plan.envRefs = map[string][]envRef{}
	for _, kv := range pairs {
		if !w.keyName(kv, "environments") {
			continue
		}
		field := join("environments", kv.key)
		env := &Environment{Name: kv.key, Strategy: Rolling, OnFailure: Stop, Pos: w.pos(kv.k)}
		keys := byKey(w.object(kv.v, field, environmentKeys))
		if k, ok := keys["nodes"]; ok {
			plan.envRefs[env.Name] = w.envRefs(k.v, join(field, "nodes"))
		} else {
			w.errorf(kv.k, join(field, "nodes"), `missing: list the environment's node names and @tags, such as nodes: ["@web", db1]`)
		}
		if k, ok := keys["strategy"]; ok {
			if v, ok := w.enum(k.v, join(field, "strategy"), string(Rolling), string(Parallel), string(Canary)); ok {
				env.Strategy = Strategy(v)
			}
		}
		if k, ok := keys["on-failure"]; ok {
			if v, ok := w.enum(k.v, join(field, "on-failure"), string(Stop), string(Continue)); ok {
				env.OnFailure = OnFailure(v)
			}
		}
		if env.Strategy != Parallel {
			env.MaxParallel = 1
		}
		if k, ok := keys["max-parallel"]; ok {
			if v, ok := w.integer(k.v, join(field, "max-parallel"), 0, 1<<20); ok {
				env.MaxParallel = v
			}
		}
		if env.Strategy == Canary {
			env.Canary = 1
		}
		if k, ok := keys["canary"]; ok {
			if env.Strategy != Canary {
				w.errorf(k.k, join(field, "canary"), "only applies to strategy: canary (this environment is %s)", env.Strategy)
			} else if v, ok := w.integer(k.v, join(field, "canary"), 1, 1<<20); ok {
				env.Canary = v
			}
		}
		if k, ok := keys["url"]; ok {
			if v, s, ok := w.str(k.v, join(field, "url")); ok {
				if msg := checkURL(v); msg != "" {
					w.errorf(s, join(field, "url"), "%s", msg)
				}
				env.URL = v
			}
		}
		plan.Environments[env.Name] = env
		plan.EnvironmentNames = append(plan.EnvironmentNames, env.Name)
	}
}

func (w *walker) envRefs(n *yaml.Node, field string) []envRef {
	items, ok := w.list(n, field)
	if ok && len(items) == 0 {
		w.errorf(n, field, "empty: list at least one node name or @tag")
	}
	var refs []envRef
	for i, it := range items {
		f := index(field, i)
		v, s, ok := w.str(it, f)
		if !ok {
			continue
		}
		if v == "@" {
			w.errorf(s, f, "empty tag: write @ and a tag name")
			continue
		}
		if msg := checkName(strings.TrimPrefix(v, "@")); msg != "" {
			w.errorf(s, f, "%s", msg)
			continue
		}
		if slices.ContainsFunc(refs, func(r envRef) bool { return r.text == v }) {
			w.errorf(s, f, "%s is listed twice", v)
			continue
		}
		refs = append(refs, envRef{text: v, pos: w.pos(s), field: f})
	}
	return refs
}

// resolveEnvironments turns each environment's names and @tags into node
// names, reporting the ones that match nothing.
func (w *walker) resolveEnvironments(plan *Plan) {
	names, tags := plan.nodeNames(), plan.tags()
	for _, name := range plan.EnvironmentNames {
		env := plan.Environments[name]
		chosen := map[string]bool{}
		for _, r := range plan.envRefs[name] {
			if tag, ok := strings.CutPrefix(r.text, "@"); ok {
				if !slices.Contains(tags, tag) {
					w.errorAt(r.pos, r.field, "unknown tag @%s%s", tag, suggest(tag, "tags", tags))
				}
				for _, n := range plan.Nodes {
					if slices.Contains(n.Tags, tag) {
						chosen[n.Name] = true
					}
				}
				continue
			}
			if plan.Node(r.text) == nil {
				w.errorAt(r.pos, r.field, "unknown node %s%s", r.text, didYouMean(r.text, names))
				continue
			}
			chosen[r.text] = true
		}
		env.Nodes = nil
		for _, n := range plan.Nodes {
			if chosen[n.Name] {
				env.Nodes = append(env.Nodes, n.Name)
			}
		}
	}
}

// suggest names the likely intended value, or lists the valid ones.
func suggest(s, what string, values []string) string {
	if d := didYouMean(s, values); d != "" {
		return d
	}
	if len(values) == 0 {
		return "; no node has " + what
	}
	return fmt.Sprintf("; known %s: %s", what, strings.Join(values, ", "))
}
