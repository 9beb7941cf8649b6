//go:build unix

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// ssmParametersServer answers GetParameter and GetParameters from values,
// as SSM's JSON protocol does.
func ssmParametersServer(t *testing.T, values map[string]string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name  string
			Names []string
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		param := func(n string) map[string]any {
			return map[string]any{"Name": n, "Type": "String", "Value": values[n], "Version": 1}
		}
		switch r.Header.Get("X-Amz-Target") {
		case "AmazonSSM.GetParameter":
			if _, ok := values[in.Name]; ok {
				json.NewEncoder(w).Encode(map[string]any{"Parameter": param(in.Name)})
				return
			}
		case "AmazonSSM.GetParameters":
			if len(in.Names) <= 10 {
				var found []any
				invalid := []string{}
				for _, n := range in.Names {
					if _, ok := values[n]; ok {
						found = append(found, param(n))
					} else {
						invalid = append(invalid, n)
					}
				}
				json.NewEncoder(w).Encode(map[string]any{"Parameters": found, "InvalidParameters": invalid})
				return
			}
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"ParameterNotFound"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestDeployedDetectCustomRule runs the built detect function under the
// Lambda emulator with the environment the CDK app deploys, its config the
// parameters the app synthesizes for large-rules.yaml (a manifest and its
// parts), against dynalite and goaws: the user rule that exists only in
// that config raises a HIGH finding on SNS for a production secret
// written, and none for its twin, a development one.
func TestDeployedDetectCustomRule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the function under the emulator; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const table, bucket = "trailwatch-rules-e2e", "trailwatch-rules-e2e-ranges"
	param, values := deployedParameters(t)

	stack := newLocalStack(ctx, t, table, "trailwatch-rules")
	ddbEndpoint, snsEndpoint, capture := stack.ddbEndpoint, stack.snsEndpoint, stack.capture
	s3srv := testenv.S3(t, bucket)
	s3srv.HideMissing.Store(true)

	env := deployedDetectEnv(t, map[string]string{
		"TABLE_NAME": table, "TOPIC_ARN": stack.topicARN, "CONFIG_PARAMETER": param, "IP_RANGES_BUCKET": bucket,
		"SELF_PROTECTION": `{"resources":["table/` + table + `"]}`,
	})
	env["AWS_ENDPOINT_URL_DYNAMODB"] = ddbEndpoint
	env["AWS_ENDPOINT_URL_SNS"] = snsEndpoint
	env["AWS_ENDPOINT_URL_SSM"] = ssmParametersServer(t, values)
	env["AWS_ENDPOINT_URL_S3"] = s3srv.URL
	bootstrap := layOutBundle(t, testenv.BuildFunction(t, "./functions/detect"), env["AWS_IP_RANGES_FILE"])
	url := testenv.RIE(t, bootstrap, env)
	invokeRIE(t, url, customRuleBatch(t, time.Now().UTC().Add(-time.Hour).Truncate(time.Hour)))

	deadline := time.Now().Add(5 * time.Second)
	var got []detectors.Finding
	for time.Now().Before(deadline) {
		capture.mu.Lock()
		got = append([]detectors.Finding(nil), capture.fs...)
		capture.mu.Unlock()
		if len(got) > 0 {
			time.Sleep(300 * time.Millisecond) // a twin's finding would arrive with it
			capture.mu.Lock()
			got = append([]detectors.Finding(nil), capture.fs...)
			capture.mu.Unlock()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != 1 {
		t.Fatalf("%d findings on SNS, want 1 (the production secret): %+v\nlogs:\n%s", len(got), got, testenv.RIELogs(url))
	}
	f := got[0]
	sigs, _ := f.Evidence["signals"].([]any)
	if f.Severity != detectors.SeverityHigh || len(f.EventIDs) != 1 || f.EventIDs[0] != "0f5a1c2e-custom-rule-positive" ||
		len(sigs) == 0 || sigs[0].(map[string]any)["rule"] != "ssm-put-production-secret" {
		t.Errorf("finding %s %v %q %v", f.Severity, f.EventIDs, f.Title, sigs)
	}
}
