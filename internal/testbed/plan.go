package testbed

import (
	"bytes"
	"fmt"
	"strconv"
	"text/template"
)

// planTemplate follows the plan schema of internal/config (docs/plan.md).
// Every value in it is the testbed's own (node names, loopback addresses,
// base64 keys), quoted anyway.
var planTemplate = template.Must(template.New("plan").Funcs(template.FuncMap{"q": strconv.Quote}).Parse(
	`# Deploy plan of a local testbed fleet, written by internal/testbed.
version: 1
flake: ./flake
defaults:
  ssh-user: {{q .User}}
  port: {{.Port}}
  confirm-timeout: 10s
environments:
  local:
    nodes: [{{range $i, $n := .Nodes}}{{if $i}}, {{end}}{{.Name}}{{end}}]
    strategy: parallel
nodes:
{{- range $i, $n := .Nodes}}
  {{.Name}}:
    host: {{q .Host}}
    host-key: {{q .HostKey}}
    tags: [testbed{{if eq $i 0}}, canary{{end}}]
    profiles:
      system: { nixos: {{.Name}} }
    checks:
      - command: /run/current-system/bin/healthcheck
        timeout: 5s
{{- end}}
`))

func renderPlan(f *Fleet) []byte {
	var b bytes.Buffer
	err := planTemplate.Execute(&b, struct {
		User  string
		Port  int
		Nodes []*Node
	}{UserDeploy, SSHPort, f.Nodes})
	if err != nil {
		// The template and its data are ours: a failure is a bug here.
		panic(fmt.Sprintf("testbed: render plan: %v", err))
	}
	return b.Bytes()
}

// renderKnownHosts lists every node's host key in known_hosts format.
func renderKnownHosts(f *Fleet) []byte {
	var b bytes.Buffer
	for _, n := range f.Nodes {
		fmt.Fprintf(&b, "[%s]:%d %s\n", n.Host, n.Port, n.HostKey)
	}
	return b.Bytes()
}
