package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/render"
)

// securityHubServer is a loopback stand-in for the Security Hub
// BatchImportFindings REST API (POST /findings/import): it keeps the
// imported findings by Id, as Security Hub does, and answers what answer
// says (nil: success).
type securityHubServer struct {
	mu      sync.Mutex
	byID    map[string]map[string]any
	imports int
	answer  func(w http.ResponseWriter) bool
}

func (s *securityHubServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/findings/import" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if s.answer != nil && s.answer(w) {
		return
	}
	var in struct {
		Findings []map[string]any `json:"Findings"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.Findings) == 0 {
		w.Header().Set("X-Amzn-ErrorType", "InvalidInputException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"Message":"bad request"}`))
		return
	}
	s.mu.Lock()
	for _, f := range in.Findings {
		s.byID[f["Id"].(string)] = f
	}
	s.imports++
	s.mu.Unlock()
	_, _ = w.Write([]byte(`{"FailedCount":0,"SuccessCount":1,"FailedFindings":[]}`))
}

func newSecurityHub(t *testing.T, srv *securityHubServer, now time.Time) *SecurityHub {
	t.Helper()
	hs := serve(t, srv)
	client := securityhub.New(securityhub.Options{
		BaseEndpoint: aws.String(hs.URL),
		Region:       "eu-central-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer:      aws.NopRetryer{},
	})
	target, err := ParseProductArn("arn:aws:securityhub:eu-central-1:999988887777:product/999988887777/default")
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	return &SecurityHub{Client: client, Target: target, Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
}

// TestSecurityHubEscalationUpdatesOneFinding: a finding and its escalation
// import one Security Hub finding (same Id and CreatedAt), the second with
// the higher label and a later UpdatedAt.
func TestSecurityHubEscalationUpdatesOneFinding(t *testing.T) {
	srv := &securityHubServer{byID: map[string]map[string]any{}}
	sh := newSecurityHub(t, srv, t0)
	f := testFinding()
	if _, err := sh.DeliverResult(context.Background(), f); err != nil {
		t.Fatalf("import: %v", err)
	}
	srv.mu.Lock()
	first := srv.byID[f.ID]
	srv.mu.Unlock()
	esc := f
	esc.Severity, esc.Count = detectors.SeverityCritical, 4
	res, err := sh.DeliverResult(context.Background(), esc)
	if err != nil || res.Action != "imported" {
		t.Fatalf("import escalation: %+v %v", res, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.byID) != 1 || srv.imports != 2 {
		t.Fatalf("Security Hub holds %d findings after %d imports, want 1 after 2", len(srv.byID), srv.imports)
	}
	second := srv.byID[f.ID]
	if first["CreatedAt"] != second["CreatedAt"] || first["ProductArn"] != second["ProductArn"] || first["GeneratorId"] != second["GeneratorId"] {
		t.Errorf("identity changed: %v/%v -> %v/%v", first["CreatedAt"], first["GeneratorId"], second["CreatedAt"], second["GeneratorId"])
	}
	if !(second["UpdatedAt"].(string) > first["UpdatedAt"].(string)) {
		t.Errorf("UpdatedAt %v not after %v", second["UpdatedAt"], first["UpdatedAt"])
	}
	if label := second["Severity"].(map[string]any)["Label"]; label != "CRITICAL" {
		t.Errorf("escalated label %v", label)
	}
	if second["SchemaVersion"] != render.ASFFSchemaVersion || second["AwsAccountId"] != "999988887777" {
		t.Errorf("schema %v account %v", second["SchemaVersion"], second["AwsAccountId"])
	}
}

func TestSecurityHubErrors(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(w http.ResponseWriter) bool
		permanent bool
	}{
		{"failed finding", func(w http.ResponseWriter) bool {
			_, _ = w.Write([]byte(`{"FailedCount":1,"SuccessCount":0,"FailedFindings":[{"Id":"x","ErrorCode":"InvalidInput","ErrorMessage":"Title too long"}]}`))
			return true
		}, true},
		{"invalid input", func(w http.ResponseWriter) bool {
			w.Header().Set("X-Amzn-ErrorType", "InvalidInputException")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"Message":"bad"}`))
			return true
		}, true},
		{"throttled", func(w http.ResponseWriter) bool {
			w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"Message":"slow down"}`))
			return true
		}, false},
		{"internal error", func(w http.ResponseWriter) bool {
			w.Header().Set("X-Amzn-ErrorType", "InternalException")
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := newSecurityHub(t, &securityHubServer{byID: map[string]map[string]any{}, answer: tt.answer}, t0)
			_, err := sh.DeliverResult(context.Background(), testFinding())
			var perm *PermanentError
			var re *RetryableError
			switch {
			case tt.permanent && !errors.As(err, &perm):
				t.Errorf("err %v (%T), want a PermanentError", err, err)
			case !tt.permanent && !errors.As(err, &re):
				t.Errorf("err %v (%T), want a RetryableError", err, err)
			}
		})
	}
}

func TestParseProductArn(t *testing.T) {
	for arn, ok := range map[string]bool{
		"arn:aws:securityhub:eu-central-1:999988887777:product/999988887777/default":   true,
		"arn:aws-cn:securityhub:cn-north-1:999988887777:product/999988887777/default":  true,
		"arn:aws:securityhub:eu-central-1:999988887777:product/111122223333/default":   false,
		"arn:aws:securityhub:cn-north-1:999988887777:product/999988887777/default":     false,
		"arn:aws:securityhub:eu-central-1:999988887777:product/999988887777/guardduty": false,
		"arn:aws:securityhub::999988887777:product/999988887777/default":               false,
		"": false,
	} {
		if _, err := ParseProductArn(arn); (err == nil) != ok {
			t.Errorf("ParseProductArn(%q) err %v, want ok=%v", arn, err, ok)
		}
	}
}
