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
	HeaderSignature      = "X-Trailwatch-Signature"
	HeaderTimestamp      = "X-Trailwatch-Timestamp"
	HeaderIdempotencyKey = "Idempotency-Key"
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
// decimal Unix seconds of ts, a ".", and the body bytes.
func Sign(secret []byte, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return signatureVersion + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a generic webhook request as a receiver should: header is
// the X-Trailwatch-Signature value, tsHeader the X-Trailwatch-Timestamp value
// and body the raw request body, read before any JSON decoding. It rejects a
// timestamp more than tolerance away from now (replay protection; receivers
// should also remember Idempotency-Key values for at least that long) and
// compares the signature in constant time. The header may hold several
// comma-separated signatures (during a secret rotation); one match suffices.
func Verify(secret []byte, header string, tsHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	secs, err := strconv.ParseInt(strings.TrimSpace(tsHeader), 10, 64)
	if err != nil {
		return fmt.Errorf("bad %s header: %w", HeaderTimestamp, err)
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %s from now", ErrTimestampSkew, ts.UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	want := []byte(Sign(secret, ts, body))
	for _, got := range strings.Split(header, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(got)), want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
