package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many YAML nodes one parse may visit, so aliases that
// expand exponentially ("billion laughs") end in an error, not a hang.
const maxNodes = 200_000

// walker walks a yaml.Node tree and collects every problem it finds instead
// of stopping at the first.
type walker struct {
	file   string
	errs   Errors
	visits int
	halted bool
}

func (w *walker) pos(n *yaml.Node) Pos {
	return Pos{File: w.file, Line: n.Line, Column: n.Column}
}

// errorf records a problem at n. n may be nil for problems without a place.
func (w *walker) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &Error{File: w.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	w.errs = append(w.errs, e)
}

// errorAt records a problem at a position found earlier, possibly in
// another file.
func (w *walker) errorAt(p Pos, field, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: p.File, Line: p.Line, Column: p.Column, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// deref follows aliases and counts visits against maxNodes; it returns nil
// once the budget is spent.
func (w *walker) deref(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 100 {
			return nil
		}
		n = n.Alias
	}
	if w.halted {
		return nil
	}
	w.visits++
	if w.visits > maxNodes {
		w.halted = true
		w.errorf(n, "", "the plan is too large (more than %d YAML nodes once aliases are expanded)", maxNodes)
		return nil
	}
	return n
}

// peek follows aliases without counting, to look at a node's kind.
func peek(n *yaml.Node) *yaml.Node {
	for depth := 0; n.Kind == yaml.AliasNode && n.Alias != nil && depth < 100; depth++ {
		n = n.Alias
	}
	return n
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func index(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// describe names the YAML type of n for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "nothing (null)"
		}
		return "a " + n.ShortTag() + " value"
	}
	return "a YAML document"
}

// pair is one key/value of a mapping; key is the key's text.
type pair struct {
	key  string
	k, v *yaml.Node
}

// mapping returns the pairs of a mapping node and reports other kinds,
// non-scalar keys and duplicate keys.
func (w *walker) mapping(n *yaml.Node, field string) ([]pair, bool) {
	n = w.deref(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		w.errorf(n, field, "want a mapping of keys to values, got %s", describe(n))
		return nil, false
	}
	pairs := make([]pair, 0, len(n.Content)/2)
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := w.deref(n.Content[i])
		if k == nil {
			return pairs, false
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			w.errorf(k, field, "keys must be plain names, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			w.errorf(k, join(field, k.Value), "merge keys (<<) are not supported: put shared settings under defaults")
			continue
		}
		if prev, dup := first[k.Value]; dup {
			w.errorf(k, join(field, k.Value), "duplicate key (first defined at line %d)", prev.Line)
			continue
		}
		first[k.Value] = k
		pairs = append(pairs, pair{key: k.Value, k: k, v: n.Content[i+1]})
	}
	return pairs, true
}

// object is mapping for a fixed set of keys: unknown keys are reported with
// the closest valid one. The known pairs are returned in file order.
// Top-level keys starting with "x-" are ignored: they hold YAML anchors.
func (w *walker) object(n *yaml.Node, field string, keys []string) []pair {
	pairs, _ := w.mapping(n, field)
	known := pairs[:0:0]
	for _, p := range pairs {
		if field == "" && strings.HasPrefix(p.key, "x-") {
			continue
		}
		if !slices.Contains(keys, p.key) {
			w.errorf(p.k, join(field, p.key), "%s", unknownKey(p.key, keys))
			continue
		}
		known = append(known, p)
	}
	return known
}

func byKey(pairs []pair) map[string]pair {
	m := make(map[string]pair, len(pairs))
	for _, p := range pairs {
		m[p.key] = p
	}
	return m
}

func unknownKey(key string, valid []string) string {
	if s := closest(key, valid); s != "" {
		return fmt.Sprintf("unknown key; did you mean %s?", s)
	}
	return "unknown key; valid keys: " + strings.Join(valid, ", ")
}

// closest returns the candidate nearest to s by edit distance when it is
// near enough to be a likely typo, else "".
func closest(s string, candidates []string) string {
	limit := 1
	switch {
	case len(s) >= 9:
		limit = 3
	case len(s) >= 4:
		limit = 2
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		if d := distance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// scalar returns n if it is a scalar with one of the given tags.
func (w *walker) scalar(n *yaml.Node, field, want string, tags ...string) *yaml.Node {
	n = w.deref(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.ScalarNode || !slices.Contains(tags, n.ShortTag()) {
		hint := ""
		if want == "a string" && n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			hint = fmt.Sprintf(" (quote it: %q)", n.Value)
		}
		w.errorf(n, field, "want %s, got %s%s", want, describe(n), hint)
		return nil
	}
	return n
}

func (w *walker) str(n *yaml.Node, field string) (string, *yaml.Node, bool) {
	s := w.scalar(n, field, "a string", "!!str")
	if s == nil {
		return "", n, false
	}
	return s.Value, s, true
}

func (w *walker) boolean(n *yaml.Node, field string) (bool, bool) {
	s := w.scalar(n, field, "true or false", "!!bool")
	if s == nil {
		return false, false
	}
	var b bool
	if err := s.Decode(&b); err != nil {
		w.errorf(s, field, "want true or false, got %q", s.Value)
		return false, false
	}
	return b, true
}

// integer returns an int within [lo, hi].
func (w *walker) integer(n *yaml.Node, field string, lo, hi int) (int, bool) {
	s := w.scalar(n, field, "an integer", "!!int")
	if s == nil {
		return 0, false
	}
	var i int64
	if err := s.Decode(&i); err != nil || i < int64(lo) || i > int64(hi) {
		w.errorf(s, field, "%s is out of range: want %d to %d", s.Value, lo, hi)
		return 0, false
	}
	return int(i), true
}

// duration parses Go duration syntax ("30s", "5m", "1h30m") and requires at
// least min.
func (w *walker) duration(n *yaml.Node, field string, min time.Duration) (time.Duration, bool) {
	if d := w.deref(n); d != nil && d.Kind == yaml.ScalarNode && (d.ShortTag() == "!!int" || d.ShortTag() == "!!float") {
		w.errorf(d, field, "%s has no unit: write a duration such as %ss or %sm", d.Value, d.Value, d.Value)
		return 0, false
	}
	v, s, ok := w.str(n, field)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		w.errorf(s, field, "%q is not a duration: write a number and a unit, such as 30s, 5m or 1h30m", v)
		return 0, false
	}
	if d < min {
		if min == 0 {
			w.errorf(s, field, "%s is negative", v)
		} else {
			w.errorf(s, field, "%s is too short: want at least %s", v, min)
		}
		return 0, false
	}
	return d, true
}

// enum returns one of the valid strings.
func (w *walker) enum(n *yaml.Node, field string, valid ...string) (string, bool) {
	v, s, ok := w.str(n, field)
	if !ok {
		return "", false
	}
	if !slices.Contains(valid, v) {
		w.errorf(s, field, "%q is not valid: want %s", v, oneOf(valid))
		return "", false
	}
	return v, true
}

// list returns the items of a sequence node.
func (w *walker) list(n *yaml.Node, field string) ([]*yaml.Node, bool) {
	n = w.deref(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		w.errorf(n, field, "want a list, got %s", describe(n))
		return nil, false
	}
	return n.Content, true
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkName reports a name that is unsafe in a shell word or a file name.
func checkName(s string) string {
	switch {
	case s == "":
		return "empty name"
	case len(s) > 63:
		return fmt.Sprintf("%q is longer than 63 characters", s)
	case !namePattern.MatchString(s):
		return fmt.Sprintf("%q is not a safe name: use letters, digits, '.', '_' and '-', starting with a letter or digit", s)
	}
	return ""
}

// name reads a string that must be a safe name.
func (w *walker) name(n *yaml.Node, field string) (string, bool) {
	v, s, ok := w.str(n, field)
	if !ok {
		return "", false
	}
	if msg := checkName(v); msg != "" {
		w.errorf(s, field, "%s", msg)
		return "", false
	}
	return v, true
}

// keyName checks a mapping key used as a name (node, profile, environment).
func (w *walker) keyName(p pair, field string) bool {
	if msg := checkName(p.key); msg != "" {
		w.errorf(p.k, join(field, p.key), "%s", msg)
		return false
	}
	return true
}

// oneOf lists alternatives: "a or b", "a, b or c".
func oneOf(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
