package config_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nix-deploy-action/nix-deploy-action/internal/config"
)

// deploy.json is `nix eval --json path:.#deploy` in testdata/plans/deployrs/flake
// (Nix 2.8), read by TestValidPlans through valid/nodes-from.yml. These cases
// are the outputs it must refuse.
func TestFromDeployRSErrors(t *testing.T) {
	const plan = `version: 1
flake: .
nodes-from: deploy
environments:
  prod: { nodes: ["@web", web2] }
nodes:
  web3: { tags: [web] }
`
	const storePath = "/nix/store/a3k3dd2mhz9dni97xyp1laadw8fmibp4-activatable-nixos-system-web1"
	tests := []struct {
		name, json string
		want       string
	}{
		{
			name: "not JSON",
			json: `{"nodes":`,
			want: "deploy.json:1:1: not the JSON of a deploy-rs node list: unexpected EOF",
		},
		{
			name: "unsupported settings",
			json: `{"remoteBuild":true,"interactiveSudo":true,"autoRollback":false,"nodes":{}}`,
			want: "deploy.json:1:16: remoteBuild: true is not supported: profiles are built on the runner\n" +
				"deploy.json:1:39: interactiveSudo: true is not supported: sudo never prompts here; give the node's SSH user passwordless sudo\n" +
				"deploy.json:1:59: autoRollback: false is not supported: a failed activation is always rolled back\n" +
				"plan.yml:5:19: environments.prod.nodes[0]: unknown tag @web; no node has tags\n" +
				"plan.yml:5:27: environments.prod.nodes[1]: unknown node web2\n" +
				"plan.yml:7:3: nodes.web3: node web3 is not in the flake's deploy output",
		},
		{
			name: "bad node",
			json: `{"nodes":{"web1":{"hostname":"a b","sshOpts":["-J","jump"],"profiles":{"system":{"path":"/tmp/x","sshUser":"x"}}},"web2":{}}}`,
			want: "deploy.json:1:30: nodes.web1.hostname: \"a b\" is not a DNS name, an IPv4 or an IPv6 address\n" +
				"deploy.json:1:46: nodes.web1.sshOpts: jump hosts and proxy commands are not supported: the runner must reach the node directly\n" +
				"deploy.json:1:89: nodes.web1.profiles.system.path: \"/tmp/x\" is not a store path\n" +
				"deploy.json:1:98: nodes.web1.profiles.system.sshUser: per-profile sshUser is not supported: all profiles of a node share one SSH connection; set it on the node\n" +
				"deploy.json:1:115: nodes.web2.hostname: missing\n" +
				"deploy.json:1:115: nodes.web2.profiles: missing\n" +
				"plan.yml:5:19: environments.prod.nodes[0]: unknown tag @web; no node has tags\n" +
				"plan.yml:7:3: nodes.web3: node web3 is not in the flake's deploy output; did you mean web1?",
		},
		{
			name: "good",
			json: `{"nodes":{"web2":{"hostname":"web2","profiles":{"system":{"path":"` + storePath + `"}}},"web3":{"hostname":"web3","profiles":{"system":{"path":"` + storePath + `"}}}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := config.Parse("plan.yml", []byte(plan))
			require.NoError(t, err)
			err = config.FromDeployRS("deploy.json", []byte(tt.json), p)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Equal(t, []string{"web2", "web3"}, p.Environments["prod"].Nodes)
				assert.Equal(t, []string{"web"}, p.Node("web3").Tags)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestFromDeployRSNeedsFlake(t *testing.T) {
	data, err := os.ReadFile(plans + "/deployrs/deploy.json")
	require.NoError(t, err)
	p := &config.Plan{File: "plan.yml"}
	assert.EqualError(t, config.FromDeployRS("deploy.json", data, p), "plan.yml: flake: a deploy-rs node list needs the plan's flake")
}
