package config_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

func TestSelect(t *testing.T) {
	p, err := parseTestdata(t, plans+"/valid/full.yml")
	require.NoError(t, err)
	tests := []struct {
		env, selector string
		want          []string
		err           string
	}{
		{env: "production", want: []string{"web1", "web2", "db1"}},
		{env: "staging", want: []string{"staging1"}},
		{env: "", want: []string{"web1", "web2", "db1", "staging1"}},
		{env: "production", selector: "db1", want: []string{"db1"}},
		{env: "production", selector: "@web", want: []string{"web1", "web2"}},
		{env: "production", selector: "web*", want: []string{"web1", "web2"}},
		{env: "production", selector: " db1 , web2 ", want: []string{"web2", "db1"}},
		{env: "production", selector: "@eu,db1", want: []string{"web2", "db1"}},
		{env: "", selector: "staging?", want: []string{"staging1"}},
		{env: "prod", err: `environment: unknown environment "prod"; known environments: staging, production`},
		{env: "productoin", err: `environment: unknown environment "productoin"; did you mean production?`},
		{env: "production", selector: "staging1", err: "selector: node staging1 is not in environment production"},
		{env: "production", selector: "@we", err: "selector: no node of environment production has tag @we; did you mean web?"},
		{env: "production", selector: "db2", err: "selector: unknown node db2; did you mean db1?"},
		{env: "production", selector: "@wbe", err: "selector: no node of environment production has tag @wbe; known tags: web, eu, db"},
		{env: "staging", selector: "@web", err: "selector: no node of environment staging has tag @web"},
		{env: "production", selector: "cache*", err: `selector: "cache*" matches no node of environment production`},
		{env: "production", selector: "web[", err: `selector: "web[" is not a valid glob`},
		{env: "production", selector: "web1,,db1", err: `selector: empty item in "web1,,db1"`},
		{env: "production", selector: "db2,@x", err: "selector: unknown node db2; did you mean db1?\nselector: no node of environment production has tag @x; known tags: web, eu, db"},
	}
	for _, tt := range tests {
		t.Run(tt.env+"/"+tt.selector, func(t *testing.T) {
			nodes, err := p.Select(tt.env, tt.selector)
			if tt.err != "" {
				require.Error(t, err)
				assert.Equal(t, tt.err, err.Error())
				var errs config.Errors
				require.True(t, errors.As(err, &errs))
				assert.Equal(t, 2, errs.ExitCode())
				return
			}
			require.NoError(t, err)
			var names []string
			for _, n := range nodes {
				names = append(names, n.Name)
			}
			assert.Equal(t, tt.want, names)
		})
	}
}
