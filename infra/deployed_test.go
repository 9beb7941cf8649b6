package infra

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite ../testdata/deployed/central.json from the synthesized template")

// deployedSettingsFile is where the settings the CDK app deploys are kept
// for the root module's deployed-parity tests (internal/e2e), which run the
// built functions with them and compare with replay. This test keeps the
// file equal to the synthesized template: a change to what the app deploys
// fails here until the file is regenerated with -update, and the parity
// tests then run with the new settings.
const deployedSettingsFile = "../testdata/deployed/central.json"

// DeployTime stands for an environment value the template computes at
// deploy time (a table name, a topic ARN): the parity tests supply their
// local equivalents and fail on one they do not know.
const DeployTime = "<deploy-time>"

// deployedFunction is what the app deploys for one function.
type deployedFunction struct {
	Environment    map[string]string `json:"environment"`
	TimeoutSeconds float64           `json:"timeout_seconds"`
	MemoryMB       float64           `json:"memory_mb"`
	// The SQS event source: batch size, batching window, partial
	// failures.
	BatchSize                float64  `json:"batch_size"`
	MaxBatchingWindowSeconds float64  `json:"max_batching_window_seconds"`
	FunctionResponseTypes    []string `json:"function_response_types"`
	// The queue it consumes: redelivery after the visibility timeout,
	// to the DLQ after MaxReceiveCount receives.
	VisibilityTimeoutSeconds float64 `json:"visibility_timeout_seconds"`
	MaxReceiveCount          float64 `json:"max_receive_count"`
	// SubscriptionFilterPolicy is the filter policy of the SNS
	// subscription that feeds the queue, if any.
	SubscriptionFilterPolicy map[string]any `json:"subscription_filter_policy,omitempty"`
}

// deployedSettings are the functions' deployed settings, by name.
type deployedSettings map[string]deployedFunction

func TestDeployedSettingsFile(t *testing.T) {
	got, err := json.MarshalIndent(extractDeployed(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(deployedSettingsFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(deployedSettingsFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(deployedSettingsFile)
	if err != nil {
		t.Fatalf("%v (create it with: cd infra && go test -run TestDeployedSettingsFile -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the app synthesizes; regenerate it with\n  cd infra && go test -run TestDeployedSettingsFile -update\nthen run the parity tests (go test ./internal/e2e). Synthesized:\n%s", deployedSettingsFile, got)
	}
}

// extractDeployed reads the deployed settings of each function of the
// central stack from its template, by function name (see functionName).
func extractDeployed(t *testing.T) deployedSettings {
	t.Helper()
	tpl := fixture.centralTpl
	out := deployedSettings{}
	queues := resources(tpl, "AWS::SQS::Queue")
	mappings := resources(tpl, "AWS::Lambda::EventSourceMapping")
	subs := resources(tpl, "AWS::SNS::Subscription")
	for id, fn := range resources(tpl, "AWS::Lambda::Function") {
		p := props(fn)
		name := functionName(id)
		d := deployedFunction{Environment: map[string]string{}}
		for k, v := range asMap(asMap(p["Environment"])["Variables"]) {
			if s, ok := v.(string); ok {
				d.Environment[k] = s
			} else {
				d.Environment[k] = DeployTime
			}
		}
		d.TimeoutSeconds, _ = p["Timeout"].(float64)
		d.MemoryMB, _ = p["MemorySize"].(float64)
		for _, m := range mappings {
			mp := props(m)
			if ref(mp["FunctionName"]) != id {
				continue
			}
			d.BatchSize, _ = mp["BatchSize"].(float64)
			d.MaxBatchingWindowSeconds, _ = mp["MaximumBatchingWindowInSeconds"].(float64)
			for _, r := range asList(mp["FunctionResponseTypes"]) {
				d.FunctionResponseTypes = append(d.FunctionResponseTypes, fmt.Sprint(r))
			}
			qid := ref(mp["EventSourceArn"])
			q := props(queues[qid])
			d.VisibilityTimeoutSeconds, _ = q["VisibilityTimeout"].(float64)
			d.MaxReceiveCount, _ = asMap(q["RedrivePolicy"])["maxReceiveCount"].(float64)
			for _, s := range subs {
				sp := props(s)
				if sp["Protocol"] == "sqs" && ref(sp["Endpoint"]) == qid {
					d.SubscriptionFilterPolicy = asMap(sp["FilterPolicy"])
				}
			}
		}
		if _, dup := out[name]; dup {
			t.Fatalf("two functions named %s", name)
		}
		out[name] = d
	}
	for _, want := range []string{"detect", "notify"} {
		if _, ok := out[want]; !ok {
			names := make([]string, 0, len(out))
			for n := range out {
				names = append(names, n)
			}
			sort.Strings(names)
			t.Fatalf("no %s function among %v", want, names)
		}
	}
	return out
}

// functionName names a function by its logical ID: DetectFunction5E3C9172
// is "detect", NotifyFunctionB36F6CE9 "notify".
func functionName(id string) string {
	if i := strings.Index(id, "Function"); i > 0 {
		return strings.ToLower(id[:i])
	}
	return id
}
