package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/ipranges"
)

// The app is synthesized once per test binary (a synth costs seconds) with
// every optional part switched on; the tests read its templates.
var (
	fixture struct {
		stacks     *Stacks
		central    assertions.Template
		forwarder  assertions.Template
		centralTpl map[string]interface{}
		fwdTpl     map[string]interface{}
		thresholds string
		funcsDir   string
	}
)

const (
	testOrgID         = "o-abcdef1234"
	testCentralBusArn = "arn:aws:events:eu-west-1:111122223333:event-bus/trailwatch-central"
	testWebhookURL    = "https://example.atlassian.net/rest/api/2/issue"
	testThresholds    = "detectors:\n  new_api_call:\n    mode: alert\n"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// jsii runs on the pinned Node 24 when the repository's node_modules is
	// installed (npm ci), whatever `node` the caller has on PATH.
	if abs := pinnedNodeBin(); abs != "" {
		if _, err := os.Stat(filepath.Join(abs, "node")); err == nil {
			os.Setenv("PATH", abs+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	defer jsii.Close()

	tmp, err := os.MkdirTemp("", "trailwatch-infra-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	funcs, err := placeholderFunctions(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	thresholdsFile := filepath.Join(tmp, "thresholds.yaml")
	if err := os.WriteFile(thresholdsFile, []byte(testThresholds), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	app, err := newTestApp(filepath.Join(tmp, "cdk.out"), map[string]interface{}{
		"organizationId":      testOrgID,
		"webhookFormat":       "jira",
		"webhookUrl":          testWebhookURL,
		"jiraProjectKey":      "SEC",
		"emailSubscribers":    map[string]interface{}{"HIGH": []interface{}{"oncall@example.com"}, "LOW": []interface{}{"analyst@example.com", "oncall@example.com"}},
		"opsEmailSubscribers": []interface{}{"ops@example.com"},
		"thresholdsFile":      thresholdsFile,
		"functionsDir":        funcs,
		"centralBusArn":       testCentralBusArn,
		"securityHub":         "true",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stacks, err := Build(app, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fixture.stacks = stacks
	fixture.thresholds = testThresholds
	fixture.funcsDir = funcs
	if err := synthesize(stacks); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: synthesizing the app failed (cdk-nag errors, if any, are listed above): %v\n", err)
		return 1
	}
	return m.Run()
}

// synthesize synthesizes the app once; cdk-nag errors fail the synthesis.
func synthesize(stacks *Stacks) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	fixture.central = assertions.Template_FromStack(stacks.Central.Stack, nil)
	fixture.forwarder = assertions.Template_FromStack(stacks.Forwarder.Stack, nil)
	fixture.centralTpl = *fixture.central.ToJSON()
	fixture.fwdTpl = *fixture.forwarder.ToJSON()
	return nil
}

// placeholderFunctions makes a functions directory with placeholder
// bootstrap files (the real binaries are built by the Makefile).
func placeholderFunctions(dir string) (string, error) {
	funcs := filepath.Join(dir, "functions")
	for _, f := range []string{"detect", "notify", ipranges.FunctionName} {
		if err := os.MkdirAll(filepath.Join(funcs, f), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(funcs, f, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			return "", err
		}
	}
	// The AWS ranges the Makefile bundles beside detect's bootstrap.
	if err := os.WriteFile(filepath.Join(funcs, "detect", ipranges.BundledFile), []byte("placeholder"), 0o644); err != nil {
		return "", err
	}
	return funcs, nil
}

// newTestApp returns an app with the context of cdk.json (feature flags
// included, so tests synthesize what `cdk synth` does) plus overrides.
func newTestApp(outdir string, overrides map[string]interface{}) (awscdk.App, error) {
	b, err := os.ReadFile("cdk.json")
	if err != nil {
		return nil, err
	}
	var cdkJSON struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(b, &cdkJSON); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	ctx := cdkJSON.Context
	for k, v := range overrides {
		ctx[k] = v
	}
	return awscdk.NewApp(&awscdk.AppProps{
		Context:   &ctx,
		Outdir:    jsii.String(outdir),
		AutoSynth: jsii.Bool(false),
	}), nil
}

// noPanic turns a failed assertions call (a panic from jsii) into a test
// error with the assertion's message.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// resources returns the template's resources of type typ by logical ID.
func resources(tpl map[string]interface{}, typ string) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	for id, r := range tpl["Resources"].(map[string]interface{}) {
		res := r.(map[string]interface{})
		if typ == "" || res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func props(res map[string]interface{}) map[string]interface{} {
	p, _ := res["Properties"].(map[string]interface{})
	if p == nil {
		return map[string]interface{}{}
	}
	return p
}

// ref returns the logical ID a {"Ref": id} or {"Fn::GetAtt": [id, attr]} points at.
func ref(v interface{}) string {
	m, ok := v.(map[string]interface{})
	if !ok {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	if ga, ok := m["Fn::GetAtt"].([]interface{}); ok && len(ga) > 0 {
		s, _ := ga[0].(string)
		return s
	}
	return ""
}

func templates() map[string]map[string]interface{} {
	return map[string]map[string]interface{}{
		CentralStackName:   fixture.centralTpl,
		ForwarderStackName: fixture.fwdTpl,
	}
}

func asList(v interface{}) []interface{} {
	switch t := v.(type) {
	case nil:
		return nil
	case []interface{}:
		return t
	default:
		return []interface{}{t}
	}
}
