package events

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"sync"
	"testing"
)

const benchSamplePath = "../testdata/sample/cloudtrail.jsonl.gz"

var (
	benchOnce      sync.Once
	benchRecords   []byte // JSON Lines of records
	benchEnvelopes []byte // the same records as JSON Lines of EventBridge envelopes
	benchCount     int
)

// benchInputs returns the bundled sample as JSON Lines of records and as
// JSON Lines of EventBridge envelopes, and the record count.
func benchInputs(b *testing.B) (records, envelopes []byte, n int) {
	benchOnce.Do(func() {
		f, err := os.Open(benchSamplePath)
		if err != nil {
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			return
		}
		var env bytes.Buffer
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			benchCount++
			e, _ := json.Marshal(map[string]any{
				"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
				"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
				"account": "111122223333", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
				"resources": []string{}, "detail": json.RawMessage(line),
			})
			env.Write(e)
			env.WriteByte('\n')
		}
		benchRecords, benchEnvelopes = data, env.Bytes()
	})
	if benchRecords == nil {
		b.Skipf("cannot read %s", benchSamplePath)
	}
	return benchRecords, benchEnvelopes, benchCount
}

func benchDecode(b *testing.B, data []byte, n int, normalize bool) {
	norm := &Normalizer{Keying: DefaultKeyingRules()}
	got := 0
	d := Decoder{Record: func(r *Record) {
		got++
		if normalize {
			_, _ = norm.NormalizeSelected(r)
		}
	}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got = 0
		if err := d.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("decoded %d records, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeRecords decodes the bundled sample as JSON Lines of
// records, the replay path.
func BenchmarkDecodeRecords(b *testing.B) {
	recs, _, n := benchInputs(b)
	benchDecode(b, recs, n, false)
}

// BenchmarkDecodeEnvelopes decodes the same records wrapped in EventBridge
// envelopes, the production path.
func BenchmarkDecodeEnvelopes(b *testing.B) {
	_, env, n := benchInputs(b)
	benchDecode(b, env, n, false)
}

// BenchmarkDecodeNormalize decodes and normalizes the sample's records.
func BenchmarkDecodeNormalize(b *testing.B) {
	recs, _, n := benchInputs(b)
	benchDecode(b, recs, n, true)
}
