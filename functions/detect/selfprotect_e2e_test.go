//go:build unix

package main

import (
	"context"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// TestDeployedDetectSelfProtection runs the built detect function under
// the Lambda emulator with the environment the CDK app deploys
// (testdata/deployed/central.json; SELF_PROTECTION naming the thresholds
// parameter and a key as the app names the deployed ones) against dynalite
// and goaws: a principal writing the thresholds parameter raises one
// CRITICAL finding on SNS; the CloudFormation execution role writing it,
// and a parameter named like it, raise none.
func TestDeployedDetectSelfProtection(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the function under the emulator; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const table, bucket, param = "trailwatch-selfprotect-e2e", "trailwatch-selfprotect-e2e-ranges", "CFN-Thresholds8F7E6D5C-AbCdEfGh1234"

	stack := newLocalStack(ctx, t, table, "trailwatch-selfprotect")
	ddbEndpoint, snsEndpoint, capture := stack.ddbEndpoint, stack.snsEndpoint, stack.capture
	s3srv := testenv.S3(t, bucket)
	s3srv.HideMissing.Store(true)

	env := deployedDetectEnv(t, map[string]string{
		"TABLE_NAME": table, "TOPIC_ARN": stack.topicARN, "CONFIG_PARAMETER": param, "IP_RANGES_BUCKET": bucket,
		"SELF_PROTECTION": selfProtectEnv,
	})
	env["AWS_ENDPOINT_URL_DYNAMODB"] = ddbEndpoint
	env["AWS_ENDPOINT_URL_SNS"] = snsEndpoint
	env["AWS_ENDPOINT_URL_SSM"] = ssmParametersServer(t, map[string]string{param: "version: 1\n"})
	env["AWS_ENDPOINT_URL_S3"] = s3srv.URL
	bootstrap := layOutBundle(t, testenv.BuildFunction(t, "./functions/detect"), env["AWS_IP_RANGES_FILE"])
	url := testenv.RIE(t, bootstrap, env)
	invokeRIE(t, url, selfProtectBatch(t, time.Now().UTC().Add(-time.Hour).Truncate(time.Hour)))

	deadline := time.Now().Add(5 * time.Second)
	var got []detectors.Finding
	for time.Now().Before(deadline) {
		capture.mu.Lock()
		n := len(capture.fs)
		capture.mu.Unlock()
		if n > 0 {
			time.Sleep(300 * time.Millisecond) // a twin's finding would arrive with it
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	capture.mu.Lock()
	got = append(got, capture.fs...)
	capture.mu.Unlock()
	if len(got) != 1 {
		t.Logf("logs:\n%s", testenv.RIELogs(url))
	}
	checkSelfProtectFindings(t, got)
}
