package githubfake

import (
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, format)
}

// TestOwnAnswersAreChecked shows that the fake validates what it sends: an
// answer missing fields GitHub always returns is reported.
func TestOwnAnswersAreChecked(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec)
	r, err := http.NewRequest(http.MethodGet, s.URL()+"/repos/o/r/check-runs/5", nil)
	require.NoError(t, err)
	route, params, err := s.desc.route(r)
	require.NoError(t, err)
	tests := []struct {
		name string
		ans  answer
		bad  bool
	}{
		{"built from the schema", jsonAnswer(http.StatusOK, build(mustSchema(t, s, "check-run"), map[string]any{"id": 5, "status": "queued"})), false},
		{"missing required fields", jsonAnswer(http.StatusOK, map[string]any{"id": 5}), true},
		{"status outside the enum", jsonAnswer(http.StatusOK, build(mustSchema(t, s, "check-run"), map[string]any{"status": "running"})), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.errs = nil
			s.checkAnswer(r, route, params, &tt.ans)
			assert.Equal(t, tt.bad, len(rec.errs) > 0, strings.Join(rec.errs, "\n"))
		})
	}
}

func mustSchema(t *testing.T, s *Server, name string) *openapi3.Schema {
	t.Helper()
	sch, err := s.desc.schema(name)
	require.NoError(t, err)
	return sch
}
