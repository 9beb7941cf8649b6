package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of the generic webhook format.
const (
	HeaderSignature = "X-Trailwatch-Signature"
	HeaderTimestamp = "X-Trailwatch-Timestamp"
	// HeaderIdempotencyKey carries DeliveryKey: one value per (finding,
	// severity), the same on every redelivery.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderFindingID carries the finding ID, the same for every severity
	// of the finding, so a receiver can group or update its ticket.
	HeaderFindingID = "X-Trailwatch-Finding-Id"
	// HeaderSeverity carries the finding's routed severity (INFO … CRITICAL).
	HeaderSeverity = "X-Trailwatch-Severity"
)

// signatureVersion prefixes every signature, so the scheme can change
// without breaking receivers.
const signatureVersion = "v1="

// DefaultSignatureTolerance is the replay window receivers should accept.
const DefaultSignatureTolerance = 5 * time.Minute

// Errors returned by Verify.
var (
	ErrSignatureMismatch = errors.New("signature mismatch")
	ErrTimestampSkew     = errors.New("timestamp outside tolerance")
)

// Sign returns the X-Trailwatch-Signature header value for a body sent at
// ts: "v1=" followed by the hex HMAC-SHA256, keyed with secret, of the
// decimal Unix seconds of ts, a ".", and the body bytes. During a secret
// rotation, each of others (the secondary secret) adds one more signature
// after a comma, "v1=<hex>,v1=<hex>", so a receiver holding either secret
// accepts the request; an empty or repeated secret adds nothing.
func Sign(secret []byte, ts time.Time, body []byte, others ...[]byte) string {
	var b strings.Builder
	b.WriteString(sign1(secret, ts, body))
	for i, o := range others {
		if len(o) == 0 || hmac.Equal(o, secret) || containsKey(others[:i], o) {
			continue
		}
		b.WriteByte(',')
		b.WriteString(sign1(o, ts, body))
	}
	return b.String()
}

func sign1(secret []byte, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return signatureVersion + hex.EncodeToString(mac.Sum(nil))
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if hmac.Equal(x, k) {
			return true
		}
	}
	return false
}

// Verify checks a generic webhook request as a receiver should: header is
// the X-Trailwatch-Signature value, tsHeader the X-Trailwatch-Timestamp value
// and body the raw request body, read before any JSON decoding. It rejects a
// timestamp more than tolerance away from now (replay protection; receivers
// should also remember Idempotency-Key values for at least that long) and
// compares the signature in constant time. The header may hold several
// comma-separated signatures (Sign adds one per secret during a rotation);
// one match with secret suffices.
func Verify(secret []byte, header string, tsHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	secs, err := strconv.ParseInt(strings.TrimSpace(tsHeader), 10, 64)
	if err != nil {
		return fmt.Errorf("bad %s header: %w", HeaderTimestamp, err)
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %s from now", ErrTimestampSkew, ts.UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	want := []byte(sign1(secret, ts, body))
	for _, got := range strings.Split(header, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(got)), want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
