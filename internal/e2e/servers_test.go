//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/internal/lambdatest"
	"github.com/trailwatch/trailwatch/notify"
)

const (
	signingSecret = "e2e-signing-secret-0123456789abcdef"
	secretARN     = "arn:aws:secretsmanager:us-east-1:111122223333:secret:trailwatch/webhook-AbCdEf"
	paramName     = "/trailwatch/thresholds"
)

// awsJSONServer answers one JSON-protocol AWS operation (X-Amz-Target)
// with reply(request body) and counts calls.
func awsJSONServer(t *testing.T, target string, reply func(in map[string]any) (int, any)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if got := r.Header.Get("X-Amz-Target"); got != target {
			t.Errorf("%s server: unexpected X-Amz-Target %q", target, got)
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"UnknownOperationException"}`)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			t.Errorf("%s server: request not SigV4-signed", target)
		}
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			t.Errorf("%s server: %v", target, err)
		}
		status, out := reply(in)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// ssmServer serves the thresholds parameter (GetParameter) with value.
func ssmServer(t *testing.T, value string) (*httptest.Server, *atomic.Int32) {
	return awsJSONServer(t, "AmazonSSM.GetParameter", func(in map[string]any) (int, any) {
		if in["Name"] != paramName || in["WithDecryption"] != true {
			return http.StatusBadRequest, map[string]any{"__type": "ParameterNotFound", "message": fmt.Sprint(in)}
		}
		return http.StatusOK, map[string]any{"Parameter": map[string]any{
			"Name": paramName, "Type": "String", "Value": value, "Version": 3,
			"ARN": "arn:aws:ssm:us-east-1:111122223333:parameter" + paramName, "DataType": "text", "LastModifiedDate": 1.7643312e9,
		}}
	})
}

// secretsServer serves the webhook signing secret (GetSecretValue).
func secretsServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	return awsJSONServer(t, "secretsmanager.GetSecretValue", func(in map[string]any) (int, any) {
		if in["SecretId"] != secretARN {
			return http.StatusBadRequest, map[string]any{"__type": "ResourceNotFoundException"}
		}
		return http.StatusOK, map[string]any{
			"ARN": secretARN, "Name": "trailwatch/webhook", "SecretString": `{"signing_secret":"` + signingSecret + `"}`,
			"VersionId": "a1b2c3d4-0000-0000-0000-000000000001", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7643312e9,
		}
	})
}

// snsCapture is an HTTP subscription endpoint: it records every SNS
// notification goaws posts.
type snsCapture struct {
	t     testing.TB
	mu    sync.Mutex
	notes []notify.SNSEnvelope
}

func (c *snsCapture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var env notify.SNSEnvelope
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
		c.t.Errorf("SNS subscriber: %v", err)
		return
	}
	if env.Type == "Notification" {
		c.mu.Lock()
		c.notes = append(c.notes, env)
		c.mu.Unlock()
	}
}

func (c *snsCapture) all() []notify.SNSEnvelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]notify.SNSEnvelope(nil), c.notes...)
}

// settle waits until the capture has held at least want notifications and
// then nothing new for quiet.
func (c *snsCapture) settle(want int, quiet, limit time.Duration) []notify.SNSEnvelope {
	deadline := time.Now().Add(limit)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		n := len(c.all())
		if n != last {
			last, since = n, time.Now()
		}
		if n >= want && time.Since(since) >= quiet {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c.all()
}

// loadSample reads the detect function's fixture: svc-backup's history
// and the stolen-access-key attack.
func loadSample(t *testing.T) sample {
	a := lambdatest.LoadAttack(t, filepath.Join("..", "..", "functions", "detect", "testdata"))
	return sample{history: a.History, attack: a.Attack}
}

type sample struct{ history, attack []json.RawMessage }

func sqsBatches(prefix string, recs []json.RawMessage, size int) []lambdaevents.SQSEvent {
	return lambdatest.SQSBatches(prefix, recs, size, "trailwatch-events")
}

var sqsMessage = lambdatest.SQSMessage
