package events

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// collect runs the decoder over data and returns records and skips.
func collect(t *testing.T, data []byte) ([]*Record, map[SkipReason]int) {
	t.Helper()
	var recs []*Record
	skips := map[SkipReason]int{}
	d := Decoder{
		Record: func(r *Record) { recs = append(recs, r) },
		Skip:   func(reason SkipReason, _ string) { skips[reason]++ },
	}
	if err := d.Decode(bytes.NewReader(data)); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return recs, skips
}

func TestDecodeFormats(t *testing.T) {
	want, _ := collect(t, mustRead(t, "testdata/records.jsonl"))
	if len(want) != 2 {
		t.Fatalf("records.jsonl: %d records, want 2", len(want))
	}
	for _, f := range []string{
		"s3-log-file.json", "s3-log-file.json.gz", "eventbridge.jsonl",
		"sqs-lambda-event.json", "sqs-receive-message.json", "array.json",
	} {
		t.Run(f, func(t *testing.T) {
			got, skips := collect(t, mustRead(t, filepath.Join("testdata", f)))
			if len(skips) != 0 {
				t.Errorf("skips: %v", skips)
			}
			// Records from envelopes keep the envelope's source and
			// account; the record itself is the same.
			enveloped := f == "eventbridge.jsonl" || strings.HasPrefix(f, "sqs-")
			for i, r := range got {
				wantEnv := Envelope{}
				if enveloped {
					wantEnv = Envelope{Source: []string{"aws.iam", "aws.sqs"}[min(i, 1)], Account: "111122223333"}
				}
				if r.Envelope != wantEnv {
					t.Errorf("record %d envelope %+v, want %+v", i, r.Envelope, wantEnv)
				}
				r.Envelope = Envelope{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("records differ from records.jsonl:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestDecodeRoundTrip checks typed fields against the fixture and that the
// raw payloads survive byte for byte.
func TestDecodeRoundTrip(t *testing.T) {
	recs, _ := collect(t, mustRead(t, "testdata/records.jsonl"))
	r := recs[0]
	if r.UserIdentity.UserName != "alice" || r.EventName != "CreateUser" || r.ReadOnly == nil || *r.ReadOnly ||
		r.TLSDetails == nil || r.TLSDetails.TLSVersion != "TLSv1.3" || r.ManagementEvent == nil || !*r.ManagementEvent {
		t.Errorf("typed fields: %+v", r)
	}
	var viaStd Record
	line, _, _ := strings.Cut(string(mustRead(t, "testdata/records.jsonl")), "\n")
	if err := json.Unmarshal([]byte(line), &viaStd); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*r, viaStd) {
		t.Errorf("scanner and encoding/json differ:\n%+v\n%+v", *r, viaStd)
	}
	if got := recs[1].RequestParameters; !json.Valid(got) || !strings.Contains(string(got), `\"quoted\"`) {
		t.Errorf("requestParameters not kept raw: %s", got)
	}
	if string(recs[1].ResponseElements) != "null" {
		t.Errorf("responseElements = %q, want null kept raw", recs[1].ResponseElements)
	}
}

func TestDecodeSkips(t *testing.T) {
	good := strings.TrimSpace(string(mustRead(t, "testdata/records.jsonl")))
	lines := strings.Split(good, "\n")
	huge := `{"eventTime":"2026-10-05T14:03:22Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","userIdentity":{"type":"Root","accountId":"1"},"requestParameters":{"x":"` +
		strings.Repeat("A", 5<<20) + `"}}`
	tests := []struct {
		name      string
		data      string
		wantRecs  int
		wantSkips map[SkipReason]int
	}{
		{"truncated JSON line", lines[0] + "\n" + lines[1][:len(lines[1])/2] + "\n" + lines[1] + "\n", 2, map[SkipReason]int{SkipMalformed: 1}},
		{"5 MB requestParameters", lines[0] + "\n" + huge + "\n" + lines[1] + "\n", 2, map[SkipReason]int{SkipTooLarge: 1}},
		{"5 MB record in an S3 file", `{"Records":[` + lines[0] + "," + huge + "," + lines[1] + "]}", 2, map[SkipReason]int{SkipTooLarge: 1}},
		{"truncated S3 file", `{"Records":[` + lines[0] + "," + lines[1][:40], 1, map[SkipReason]int{SkipMalformed: 1}},
		{"not a record", `{"hello":"world"}` + "\n" + lines[0] + "\n", 1, map[SkipReason]int{SkipNotRecord: 1}},
		{"binary", "\x00\x01\x02\xff garbage", 0, map[SkipReason]int{SkipBinary: 1}},
		{"other detail type", `{"detail-type":"EC2 Instance State-change Notification","detail":{"state":"running"}}` + "\n", 0, map[SkipReason]int{SkipDetailType: 1}},
		{"empty", "", 0, map[SkipReason]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, skips := collect(t, []byte(tt.data))
			if len(recs) != tt.wantRecs {
				t.Errorf("records = %d, want %d", len(recs), tt.wantRecs)
			}
			if !reflect.DeepEqual(skips, tt.wantSkips) {
				t.Errorf("skips = %v, want %v", skips, tt.wantSkips)
			}
		})
	}
}

func TestDecodeCorruptGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(mustRead(t, "testdata/records.jsonl"))
	zw.Close()
	data := buf.Bytes()
	// Flip bytes in the middle of the compressed stream, and cut its end.
	corrupt := append([]byte(nil), data...)
	for i := len(corrupt) / 2; i < len(corrupt)/2+8; i++ {
		corrupt[i] ^= 0xff
	}
	for name, in := range map[string][]byte{"corrupt": corrupt, "truncated": data[:len(data)-12], "header only": data[:10]} {
		t.Run(name, func(t *testing.T) {
			_, skips := collect(t, in)
			if skips[SkipCorruptGzip] != 1 {
				t.Errorf("skips = %v, want one %s", skips, SkipCorruptGzip)
			}
		})
	}
}

func TestNormalizeSkips(t *testing.T) {
	n := &Normalizer{Keying: DefaultKeyingRules()}
	base := Record{EventTime: "2026-10-05T14:03:22Z", EventSource: "iam.amazonaws.com", EventName: "CreateUser",
		UserIdentity: UserIdentity{Type: "Root", AccountID: "111122223333"}}
	noTime := base
	noTime.EventTime = ""
	badTime := base
	badTime.EventTime = "yesterday"
	noName := base
	noName.EventName = ""
	for name, tc := range map[string]struct {
		r    Record
		want SkipReason
	}{
		"no eventTime":  {noTime, SkipNoTime},
		"bad eventTime": {badTime, SkipBadTime},
		"no eventName":  {noName, SkipNoName},
	} {
		_, err := n.Normalize(&tc.r)
		se, ok := err.(*SkipError)
		if !ok || se.Reason != tc.want {
			t.Errorf("%s: err = %v, want %s", name, err, tc.want)
		}
	}
	// A refused console sign-in carries no errorCode, only a message and
	// a Failure response: it still counts as an authentication failure.
	failed := Record{EventTime: "2026-10-05T14:03:22Z", EventSource: "signin.amazonaws.com", EventName: "ConsoleLogin",
		EventType: "AwsConsoleSignIn", ErrorMessage: "Failed authentication",
		ResponseElements: []byte(`{"ConsoleLogin":"Failure"}`),
		UserIdentity:     UserIdentity{Type: "IAMUser", UserName: "alice", AccountID: "111122223333"}}
	if ev, err := n.Normalize(&failed); err != nil || !ev.SignInFailed || ev.ErrClass != ErrDenied || !ev.Selected {
		t.Errorf("failed sign-in: %+v %v", ev, err)
	}
	frac := base
	frac.EventTime = "2026-10-05T14:03:22.123456Z"
	if ev, err := n.Normalize(&frac); err != nil || ev.Time.Nanosecond() != 123456000 {
		t.Errorf("fractional time: %v %v", ev.Time, err)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
