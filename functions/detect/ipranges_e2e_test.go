//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/lambdatest"
	"github.com/trailwatch/trailwatch/internal/testenv"
	"github.com/trailwatch/trailwatch/notify"
)

// deployedSettings is the file the infra module keeps equal to the
// synthesized template (infra/deployed_test.go): what the CDK app deploys.
const deployedSettings = "../../testdata/deployed/central.json"

// deployTime marks an environment value the template computes at deploy
// time (infra.DeployTime).
const deployTime = "<deploy-time>"

// deployedDetectEnv returns the detect function's environment as the CDK
// app sets it, with each deploy-time value replaced by its local
// equivalent from local (by variable name). A deploy-time variable the
// test does not know fails it.
func deployedDetectEnv(t *testing.T, local map[string]string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(deployedSettings)
	if err != nil {
		t.Fatalf("%v: generate it with `cd infra && go test -run TestDeployedSettingsFile -update`", err)
	}
	var fns map[string]struct {
		Environment map[string]string `json:"environment"`
	}
	if err := json.Unmarshal(raw, &fns); err != nil {
		t.Fatalf("%s: %v", deployedSettings, err)
	}
	d, ok := fns["detect"]
	if !ok {
		t.Fatalf("%s has no detect function", deployedSettings)
	}
	env := map[string]string{}
	for k, v := range d.Environment {
		if v == deployTime {
			lv, ok := local[k]
			if !ok {
				t.Fatalf("the deployed detect environment has %s computed at deploy time; give the test a local value for it", k)
			}
			v = lv
		}
		env[k] = v
	}
	return env
}

// layOutBundle puts bootstrap and the ranges file as `make build-host`
// does: the file the deployed AWS_IP_RANGES_FILE names, made by the
// Makefile's own rule, here from the small fixture (IP_RANGES empty), so
// the test is the same offline and with the shared reference data.
func layOutBundle(t *testing.T, bootstrap, rangesFile string) string {
	t.Helper()
	if filepath.IsAbs(rangesFile) || strings.Contains(rangesFile, "/") {
		t.Fatalf("AWS_IP_RANGES_FILE %q: the app must name the file beside the bootstrap", rangesFile)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed: cannot lay out the bundle as the Makefile does")
	}
	dir := filepath.Join(t.TempDir(), "detect")
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", root, filepath.Join(dir, rangesFile), "IP_RANGES=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", rangesFile, err, out)
	}
	if !strings.Contains(string(out), "WARNING") || !strings.Contains(string(out), "fixture") {
		t.Errorf("bundling the fixture printed no warning: %q", out)
	}
	bin, err := os.ReadFile(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "bootstrap")
}

// ssmParameterServer answers GetParameter for name with value.
func ssmParameterServer(t *testing.T, name, value string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Name string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameter" || in.Name != name {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"ParameterNotFound"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": name, "Type": "String", "Value": value, "Version": 1}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// findingsCapture records the findings goaws delivers to an HTTP
// subscription.
type findingsCapture struct {
	t  *testing.T
	mu sync.Mutex
	fs []detectors.Finding
}

func (c *findingsCapture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var env notify.SNSEnvelope
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil || env.Type != "Notification" {
		return
	}
	f, err := notify.DecodeMessage(env.Message) // goaws posts the per-protocol structure to HTTP
	if err != nil {
		c.t.Errorf("notification is not a finding: %v", err)
		return
	}
	c.mu.Lock()
	c.fs = append(c.fs, f)
	c.mu.Unlock()
}

// pinning waits briefly and returns the credential-pinning signal
// evidence published for key, or nil.
func (c *findingsCapture) pinning(key string, wait time.Duration) map[string]any {
	deadline := time.Now().Add(wait)
	for {
		c.mu.Lock()
		for _, f := range c.fs {
			sigs, _ := f.Evidence["signals"].([]any)
			for _, s := range sigs {
				m, _ := s.(map[string]any)
				if m["detector"] == detectors.IDCredentialPinning && m["access_key_id"] == key {
					c.mu.Unlock()
					m["severity"] = f.Severity.String()
					return m
				}
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// phaseEvent builds the SQS batch of the fixture's records of phase,
// dated from base.
func phaseEvent(t *testing.T, phase string, base time.Time) lambdaevents.SQSEvent {
	t.Helper()
	raw, err := os.ReadFile("testdata/inside-then-outside.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Phase  string          `json:"phase"`
		Offset int             `json:"offset_minutes"`
		Record json.RawMessage `json:"record"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	var ev lambdaevents.SQSEvent
	for i, c := range cases {
		if c.Phase != phase {
			continue
		}
		at := base.Add(time.Duration(c.Offset) * time.Minute).Format(time.RFC3339)
		rec := bytes.ReplaceAll(c.Record, []byte(`"TIME"`), []byte(`"`+at+`"`))
		ev.Records = append(ev.Records, lambdatest.SQSMessage(fmt.Sprintf("%s-%d", phase, i), lambdatest.Envelope(rec), "trailwatch-events"))
	}
	if len(ev.Records) == 0 {
		t.Fatalf("no records for phase %s", phase)
	}
	return ev
}

func invokeRIE(t *testing.T, url string, ev lambdaevents.SQSEvent) {
	t.Helper()
	out, err := testenv.Invoke(t, url, ev)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp lambdaevents.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || strings.Contains(string(out), "errorType") || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("function response %s (%v)", out, err)
	}
}

// TestDeployedDetectClassifiesInsideAWS runs the built detect function
// under the Lambda emulator with the environment the CDK app deploys and
// the ranges laid out as the Makefile bundles them, against dynalite,
// goaws and an S3 server holding the bucket copy. A session key first
// used from an AWS address, and one first used through a VPC endpoint,
// are inside AWS: used again from outside, each raises a HIGH
// credential-pinning finding on SNS. The benign twin, a private address
// without an endpoint, raises none. Then, after the bucket copy is
// updated, a new cold start classifies an address only the newer list
// holds as AWS's.
func TestDeployedDetectClassifiesInsideAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the function under the emulator; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const table, param, bucket = "trailwatch-ipranges-e2e", "/trailwatch/thresholds", "trailwatch-ip-ranges-e2e"
	stack := newLocalStack(ctx, t, table, "trailwatch-ipranges")
	ddbEndpoint, snsEndpoint, capture := stack.ddbEndpoint, stack.snsEndpoint, stack.capture
	thresholds, err := os.ReadFile("../../config/thresholds.yaml") // what the app deploys to SSM
	if err != nil {
		t.Fatal(err)
	}
	s3srv := testenv.S3(t, bucket)
	s3srv.HideMissing.Store(true) // the deployed role may not list the bucket

	env := deployedDetectEnv(t, map[string]string{
		"TABLE_NAME": table, "TOPIC_ARN": stack.topicARN, "CONFIG_PARAMETER": param, "IP_RANGES_BUCKET": bucket,
		"SELF_PROTECTION": `{"resources":["table/` + table + `"]}`,
	})
	for _, k := range []string{"AWS_IP_RANGES_FILE", "IP_RANGES_BUCKET", "IP_RANGES_KEY"} {
		if env[k] == "" {
			t.Fatalf("the deployed detect environment lacks %s: %v", k, env)
		}
	}
	env["AWS_ENDPOINT_URL_DYNAMODB"] = ddbEndpoint
	env["AWS_ENDPOINT_URL_SNS"] = snsEndpoint
	env["AWS_ENDPOINT_URL_SSM"] = ssmParameterServer(t, param, string(thresholds))
	env["AWS_ENDPOINT_URL_S3"] = s3srv.URL
	bootstrap := layOutBundle(t, testenv.BuildFunction(t, "./functions/detect"), env["AWS_IP_RANGES_FILE"])

	// 1. Before the first refresh: the bucket is empty, the bundled
	// fixture classifies.
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	url := testenv.RIE(t, bootstrap, env)
	invokeRIE(t, url, phaseEvent(t, "inside", base))
	invokeRIE(t, url, phaseEvent(t, "outside", base))
	wants := []string{`"ip_ranges":5`, `"IPRangesRefreshFailures"`, `StatusCode: 403`}
	logs := testenv.WaitRIELogs(url, 5*time.Second, wants...)
	for _, want := range wants {
		if !strings.Contains(logs, want) {
			t.Errorf("detect logs lack %s (bundled ranges loaded, missing bucket copy counted)", want)
		}
	}
	tests := []struct {
		key, firstNetwork string
	}{
		{"ASIAE2EAWSADDR000001", "aws/us-east-1"}, // an AWS address
		{"ASIAE2EVPCE000000001", "aws/eu-west-1"}, // a VPC endpoint call from 10.20.3.4
	}
	for _, tt := range tests {
		ev := capture.pinning(tt.key, 5*time.Second)
		if ev == nil {
			t.Errorf("%s: no credential-pinning finding published", tt.key)
			continue
		}
		if ev["first_network"] != tt.firstNetwork || ev["first_network_class"] != "aws" || ev["network_class"] != "public" || ev["severity"] != "HIGH" {
			t.Errorf("%s: evidence %v, want first used inside AWS (%s), then public, HIGH", tt.key, ev, tt.firstNetwork)
		}
	}
	if ev := capture.pinning("ASIAE2EPRIVATE000001", 500*time.Millisecond); ev != nil {
		t.Errorf("benign twin (private address, no VPC endpoint) raised %v", ev)
	}

	// 2. The ipranges function stores a newer list; the next cold start
	// refreshes from it.
	// The object the function reads is the one the app names.
	if env["IP_RANGES_KEY"] != rangesKey {
		t.Fatalf("IP_RANGES_KEY %q, the test writes %q", env["IP_RANGES_KEY"], rangesKey)
	}
	putObject(t, s3srv.URL, bucket, gzipFile(t, "testdata/ip-ranges-newer.json"))
	url2 := testenv.RIE(t, bootstrap, env)
	invokeRIE(t, url2, phaseEvent(t, "refreshed-inside", base))
	invokeRIE(t, url2, phaseEvent(t, "refreshed-outside", base))
	if logs := testenv.WaitRIELogs(url2, 5*time.Second, `"AWS ip ranges refreshed"`, `"sync_token":1700086400`); !strings.Contains(logs, `"AWS ip ranges refreshed"`) || !strings.Contains(logs, `"sync_token":1700086400`) {
		t.Errorf("the second cold start did not refresh from the bucket copy")
	}
	ev := capture.pinning("ASIAE2EREFRESHED0001", 5*time.Second)
	if ev == nil || ev["first_network"] != "aws/eu-west-1" || ev["first_network_class"] != "aws" {
		t.Errorf("address only in the refreshed list: evidence %v, want first used inside AWS (aws/eu-west-1)", ev)
	}
}
