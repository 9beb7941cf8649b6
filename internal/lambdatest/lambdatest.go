// Package lambdatest builds what the functions' tests feed them and
// receive from them: SQS events of EventBridge-wrapped CloudTrail records,
// and a ticketing webhook receiver that verifies Trailwatch's signatures.
package lambdatest

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/notify"
)

// Envelope wraps a CloudTrail record the way EventBridge delivers it.
func Envelope(rec json.RawMessage) string {
	var r struct {
		EventID     string `json:"eventID"`
		EventSource string `json:"eventSource"`
		Region      string `json:"awsRegion"`
		Time        string `json:"eventTime"`
		Account     string `json:"recipientAccountId"`
	}
	_ = json.Unmarshal(rec, &r)
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "eb-" + r.EventID, "detail-type": "AWS API Call via CloudTrail",
		"source": "aws." + strings.TrimSuffix(r.EventSource, ".amazonaws.com"), "account": r.Account,
		"time": r.Time, "region": r.Region, "resources": []string{}, "detail": rec,
	})
	return string(b)
}

// SQSMessage is one message as Lambda's SQS event source delivers it.
func SQSMessage(id, body, queue string) lambdaevents.SQSMessage {
	return lambdaevents.SQSMessage{
		MessageId: id, ReceiptHandle: "rh-" + id, Body: body, EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:us-east-1:111122223333:" + queue, AWSRegion: "us-east-1",
		Attributes: map[string]string{"ApproximateReceiveCount": "1"},
	}
}

// SQSBatches builds SQS events of at most size messages, one enveloped
// record each, with message IDs derived from prefix and the record index.
func SQSBatches(prefix string, recs []json.RawMessage, size int, queue string) []lambdaevents.SQSEvent {
	var out []lambdaevents.SQSEvent
	for i := 0; i < len(recs); i += size {
		var ev lambdaevents.SQSEvent
		for j := i; j < min(i+size, len(recs)); j++ {
			ev.Records = append(ev.Records, SQSMessage(fmt.Sprintf("%s-%04d", prefix, j), Envelope(recs[j]), queue))
		}
		out = append(out, ev)
	}
	return out
}

// TicketReceiver is a ticketing system for the generic webhook format: it
// verifies the HMAC signature (with replay protection), that the
// Idempotency-Key is notify.DeliveryKey of the finding and that
// X-Trailwatch-Finding-Id is its ID, and records the ticket IDs.
type TicketReceiver struct {
	T      testing.TB
	Secret []byte
	// Status, if set, gives the status to answer call n (from 1) with;
	// 0 verifies and accepts.
	Status func(n int) int
	Calls  atomic.Int32

	mu  sync.Mutex
	ids []string
}

// ServeHTTP implements http.Handler.
func (rv *TicketReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(rv.Calls.Add(1))
	body, _ := io.ReadAll(r.Body)
	if rv.Status != nil {
		if s := rv.Status(n); s != 0 {
			http.Error(w, "receiver unavailable", s)
			return
		}
	}
	if err := notify.Verify(rv.Secret, r.Header.Get(notify.HeaderSignature), r.Header.Get(notify.HeaderTimestamp),
		body, time.Now(), notify.DefaultSignatureTolerance); err != nil {
		rv.T.Errorf("receiver: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var f detectors.Finding
	if err := json.Unmarshal(body, &f); err != nil || f.ID == "" ||
		r.Header.Get(notify.HeaderIdempotencyKey) != notify.DeliveryKey(f) || r.Header.Get(notify.HeaderFindingID) != f.ID {
		rv.T.Errorf("receiver: body %.300s, idempotency key %q, finding ID %q: %v", body,
			r.Header.Get(notify.HeaderIdempotencyKey), r.Header.Get(notify.HeaderFindingID), err)
	}
	rv.mu.Lock()
	rv.ids = append(rv.ids, f.ID)
	rv.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// Tickets returns the IDs of the tickets accepted so far.
func (rv *TicketReceiver) Tickets() []string {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]string(nil), rv.ids...)
}

// Attack is the detect function's fixture (functions/detect/testdata,
// built from testdata/sample): svc-backup's history and the records of the
// stolen-access-key attack.
type Attack struct {
	History, Attack []json.RawMessage
}

// LoadAttack reads the fixture from dir.
func LoadAttack(t testing.TB, dir string) Attack {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "stolen-access-key.ids.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		t.Fatal(err)
	}
	attack := map[string]bool{}
	for _, id := range ids {
		attack[id] = true
	}
	f, err := os.Open(filepath.Join(dir, "svc-backup.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var a Attack
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := append(json.RawMessage(nil), sc.Bytes()...)
		var r struct {
			EventID string `json:"eventID"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if attack[r.EventID] {
			a.Attack = append(a.Attack, line)
		} else {
			a.History = append(a.History, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(a.Attack) != len(ids) || len(a.History) < 300 {
		t.Fatalf("fixture: %d attack records (want %d), %d history", len(a.Attack), len(ids), len(a.History))
	}
	return a
}
