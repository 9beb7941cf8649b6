package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/trailwatch/trailwatch/detectors"
)

const productARN = "arn:aws:securityhub:eu-central-1:999988887777:product/999988887777/default"

// TestSecurityHubSink runs the handler configured from the environment
// with NOTIFY_SINK=securityhub against a loopback Security Hub import API:
// a finding and its escalation become one Security Hub finding; a finding
// Security Hub refuses is reported for the DLQ.
func TestSecurityHubSink(t *testing.T) {
	var mu sync.Mutex
	imported := map[string][]map[string]any{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Findings []map[string]any }
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/findings/import" || json.Unmarshal(body, &in) != nil || len(in.Findings) != 1 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		f := in.Findings[0]
		id := f["Id"].(string)
		if id == "tw-refused" {
			_, _ = w.Write([]byte(`{"FailedCount":1,"SuccessCount":0,"FailedFindings":[{"Id":"tw-refused","ErrorCode":"InvalidInput","ErrorMessage":"refused"}]}`))
			return
		}
		mu.Lock()
		imported[id] = append(imported[id], f)
		mu.Unlock()
		_, _ = w.Write([]byte(`{"FailedCount":0,"SuccessCount":1,"FailedFindings":[]}`))
	}))
	t.Cleanup(srv.Close)

	s, err := readEnv(func(k string) string {
		return map[string]string{"NOTIFY_SINK": "securityhub", "SECURITYHUB_PRODUCT_ARN": productARN}[k]
	}).validate()
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	client := securityhub.New(securityhub.Options{BaseEndpoint: aws.String(srv.URL), Region: "eu-central-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""), Retryer: aws.NopRetryer{}})
	var logs, metrics bytes.Buffer
	h := newSecurityHubHandler(s, client, slog.New(slog.NewJSONHandler(&logs, nil)), &metrics)

	f := finding("tw-1")
	esc := f
	esc.Severity = detectors.SeverityCritical
	resp := invoke(t, h, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		snsRecord("m1", f), snsRecord("m2", esc), snsRecord("m3", finding("tw-refused")),
	}})
	if got := failedIDs(resp); got != "m3" {
		t.Errorf("batch item failures %q, want m3 (the refused finding)\n%s", got, logs.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(imported) != 1 || len(imported["tw-1"]) != 2 {
		t.Fatalf("imports by Id: %v, want tw-1 twice", imported)
	}
	a, b := imported["tw-1"][0], imported["tw-1"][1]
	if a["ProductArn"] != productARN || a["CreatedAt"] != b["CreatedAt"] || b["Severity"].(map[string]any)["Label"] != "CRITICAL" {
		t.Errorf("first %v / second %v", a, b)
	}
	if !strings.Contains(metrics.String(), `"Format":"asff"`) {
		t.Errorf("metrics lack the asff format:\n%s", metrics.String())
	}
}

func TestSecurityHubConfig(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{"NOTIFY_SINK": "securityhub"}, "SECURITYHUB_PRODUCT_ARN"},
		{map[string]string{"NOTIFY_SINK": "securityhub", "SECURITYHUB_PRODUCT_ARN": "arn:aws:sns:eu-central-1:999988887777:t"}, "SECURITYHUB_PRODUCT_ARN"},
		{map[string]string{"NOTIFY_SINK": "s3"}, "NOTIFY_SINK"},
		{map[string]string{"NOTIFY_SINK": "securityhub", "SECURITYHUB_PRODUCT_ARN": productARN}, ""},
	} {
		_, err := readEnv(func(k string) string { return tc.env[k] }).validate()
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: err %v, want %q", tc.env, err, tc.wantErr)
		}
	}
}
