package githubfake

import (
	"github.com/getkin/kin-openapi/openapi3"
)

// GitHub's objects carry dozens of required fields the fake has no state for
// (avatar URLs, node ids, the app that owns a check run). Rather than spell
// them out per endpoint, build fills what the description requires with the
// simplest valid value and lays the fake's real state over it; every response
// is then validated against the description, so a mistake here fails a test.

// maxDepth stops schemas whose required fields nest deeply (repository →
// owner → …) from producing huge placeholder objects.
const maxDepth = 8

// placeholderTime is the value of date-time fields the fake has no state for.
const placeholderTime = "2024-01-01T00:00:00Z"

// build returns a JSON value valid for schema s, with overlay's values in
// place. overlay is nil, a primitive, a []any, or a map[string]any.
func build(s *openapi3.Schema, overlay any) any {
	return buildAt(s, overlay, 0, false)
}

func buildAt(s *openapi3.Schema, overlay any, depth int, allowNull bool) any {
	if s == nil {
		return overlay
	}
	s = alternative(s, overlay)
	switch ov := overlay.(type) {
	case map[string]any:
		return buildObject(s, ov, depth)
	case []any:
		items := schemaOf(s.Items)
		out := make([]any, len(ov))
		for i, v := range ov {
			out[i] = buildAt(items, v, depth+1, false)
		}
		return out
	case nil:
	default:
		return overlay
	}
	if allowNull && s.Nullable {
		return nil
	}
	return placeholder(s, depth)
}

// alternative picks, for a oneOf/anyOf schema, the branch that fits overlay's
// kind; the first branch when nothing decides.
func alternative(s *openapi3.Schema, overlay any) *openapi3.Schema {
	alts := s.OneOf
	if len(alts) == 0 {
		alts = s.AnyOf
	}
	if len(alts) == 0 {
		return s
	}
	want := kindOf(overlay)
	for _, a := range alts {
		if a.Value != nil && (want == "" || a.Value.Type.Permits(want)) {
			return a.Value
		}
	}
	return s
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return openapi3.TypeObject
	case []any:
		return openapi3.TypeArray
	case string:
		return openapi3.TypeString
	case bool:
		return openapi3.TypeBoolean
	case int, int64:
		return openapi3.TypeInteger
	case float64:
		return openapi3.TypeNumber
	}
	return ""
}

func buildObject(s *openapi3.Schema, overlay map[string]any, depth int) map[string]any {
	props, required := objectShape(s)
	out := make(map[string]any, len(required)+len(overlay))
	for _, name := range required {
		if _, ok := overlay[name]; ok {
			continue
		}
		if depth >= maxDepth {
			out[name] = nil
			continue
		}
		out[name] = buildAt(props[name], nil, depth+1, true)
	}
	for name, v := range overlay {
		// An explicit nil in the overlay means JSON null where allowed.
		out[name] = buildAt(props[name], v, depth+1, v == nil)
	}
	return out
}

// objectShape merges the properties and required names of s and its allOf
// parts.
func objectShape(s *openapi3.Schema) (map[string]*openapi3.Schema, []string) {
	props := map[string]*openapi3.Schema{}
	var required []string
	var walk func(*openapi3.Schema)
	walk = func(s *openapi3.Schema) {
		if s == nil {
			return
		}
		for name, ref := range s.Properties {
			props[name] = ref.Value
		}
		required = append(required, s.Required...)
		for _, part := range s.AllOf {
			walk(part.Value)
		}
	}
	walk(s)
	return props, required
}

func placeholder(s *openapi3.Schema, depth int) any {
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch {
	case s.Type.Is(openapi3.TypeObject), len(s.Properties) > 0, len(s.AllOf) > 0:
		return buildObject(s, nil, depth)
	case s.Type.Is(openapi3.TypeArray):
		out := make([]any, s.MinItems)
		for i := range out {
			out[i] = buildAt(schemaOf(s.Items), nil, depth+1, false)
		}
		return out
	case s.Type.Is(openapi3.TypeString):
		switch s.Format {
		case "date-time":
			return placeholderTime
		case "date":
			return placeholderTime[:10]
		case "uri":
			return "https://github.invalid/"
		case "email":
			return "nobody@github.invalid"
		}
		return ""
	case s.Type.Is(openapi3.TypeInteger), s.Type.Is(openapi3.TypeNumber):
		if s.Min != nil {
			return *s.Min
		}
		return 0
	case s.Type.Is(openapi3.TypeBoolean):
		return false
	}
	return nil
}

func schemaOf(ref *openapi3.SchemaRef) *openapi3.Schema {
	if ref == nil {
		return nil
	}
	return ref.Value
}
