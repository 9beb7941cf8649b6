package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder and normalizer: the
// caller controls userAgent, requestParameters and more, so nothing here
// may panic or hang, and every entry is either a record or a counted skip.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"records.jsonl", "s3-log-file.json", "eventbridge.jsonl", "sqs-lambda-event.json", "sqs-receive-message.json", "array.json"} {
		f.Add(mustRead(f, "testdata/"+name))
	}
	f.Add([]byte(`{"Records":[{"eventTime":"x"},]}`))
	f.Add([]byte("{\"body\":\"{\\\"body\\\":\\\"{}\\\"}\"}\n"))
	n := &Normalizer{Keying: DefaultKeyingRules()}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := Decoder{
			Record: func(r *Record) {
				ev, err := n.Normalize(r)
				if err == nil && ev.Principal == "" {
					t.Fatalf("normalized event without principal: %+v", r)
				}
			},
			Skip: func(SkipReason, string) {},
		}
		if err := d.Decode(bytes.NewReader(data)); err != nil {
			t.Fatalf("Decode of in-memory bytes returned an error: %v", err)
		}
	})
}

// FuzzScanRecord checks the hand-written scanner against encoding/json:
// what encoding/json rejects as a Record the scanner rejects too, and what
// encoding/json accepts the scanner decodes to the same value (or leaves to
// encoding/json).
func FuzzScanRecord(f *testing.F) {
	for _, line := range bytes.Split(mustRead(f, "testdata/records.jsonl"), []byte("\n")) {
		if len(line) > 0 {
			f.Add(line)
		}
	}
	f.Add([]byte(`{"eventName":"A","EVENTNAME":"B","eventName":null}`))
	f.Add([]byte(`{"userIdentity":{"sessionContext":null,"type":"\u0041\ud83d\ude00"}}`))
	f.Add([]byte(`{"readOnly":null,"requestParameters":  {"a" : [1, 2.5e3, -0, "x\"y"]} }`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var want Record
		if err := json.Unmarshal(data, &want); err != nil {
			var got Record
			if scanRecord(data, &got, nil) == nil {
				t.Fatalf("the scanner accepts %q, which encoding/json rejects: %v", data, err)
			}
			return
		}
		var got Record
		if err := scanRecord(data, &got, map[string]string{}); err != nil {
			// The decoder falls back to encoding/json on a scanner error,
			// so a rejection is safe; it must stay rare on real records.
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scanner and encoding/json differ on %q:\n got %+v\nwant %+v", data, got, want)
		}
	})
}

// FuzzDecodeEnvelope checks the production path, EventBridge envelopes and
// the SQS or SNS messages that carry them, through the Decoder against a
// reference built on encoding/json alone (refDecode): the same records,
// with the same envelope fields, and the same skips in the same order.
// Inputs are JSON Lines; containers and gzip take other paths.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, name := range []string{"eventbridge.jsonl", "test-events.jsonl", "records.jsonl"} {
		for _, line := range bytes.Split(mustRead(f, "testdata/"+name), []byte("\n")) {
			if len(line) > 0 {
				f.Add(line)
			}
		}
	}
	// Each SQS message of the containers, alone on a line.
	var lambda struct{ Records []json.RawMessage }
	var api struct{ Messages []json.RawMessage }
	if err := json.Unmarshal(mustRead(f, "testdata/sqs-lambda-event.json"), &lambda); err != nil {
		f.Fatal(err)
	}
	if err := json.Unmarshal(mustRead(f, "testdata/sqs-receive-message.json"), &api); err != nil {
		f.Fatal(err)
	}
	for _, m := range append(lambda.Records, api.Messages...) {
		var c bytes.Buffer
		if err := json.Compact(&c, m); err != nil {
			f.Fatal(err)
		}
		f.Add(c.Bytes())
	}
	f.Add([]byte(`{"Type":"Notification","Message":"{\"detail-type\":\"AWS API Call via CloudTrail\",\"source\":\"trailwatch.test\",\"account\":\"1\",\"detail\":{\"eventName\":\"A\"}}"}`))
	f.Add([]byte(`{"detail-type":"AWS API Call via CloudTrail","SOURCE":"trailwatch.test","Account":"2","detail":{"eventName":"A"},"resources":["\x"]}`))
	f.Add([]byte(`{"body":"{\"body\":\"{\\\"Message\\\":\\\"{}\\\"}\"}"}` + "\n" + `{"detail-type":"Other","detail":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := bytes.TrimLeft(data, " \t\r\n")
		if len(start) == 0 || start[0] != '{' || isContainer(start[:min(len(start), 256)]) || len(data) > MaxRecordBytes {
			return
		}
		var got []refEntry
		d := Decoder{
			Record: func(r *Record) { got = append(got, refEntry{rec: r}) },
			Skip:   func(reason SkipReason, _ string) { got = append(got, refEntry{skip: reason}) },
		}
		if err := d.Decode(bytes.NewReader(data)); err != nil {
			t.Fatalf("Decode of in-memory bytes: %v", err)
		}
		want := refDecode(data)
		if len(got) != len(want) {
			t.Fatalf("decoder gave %d entries, encoding/json %d, on %q:\n got %v\nwant %v", len(got), len(want), data, got, want)
		}
		for i := range got {
			if got[i].skip != want[i].skip || (got[i].rec == nil) != (want[i].rec == nil) ||
				got[i].rec != nil && !reflect.DeepEqual(*got[i].rec, *want[i].rec) {
				t.Fatalf("entry %d differs on %q:\n got %v\nwant %v", i, data, got[i], want[i])
			}
		}
	})
}

// refEntry is one outcome of decoding: a record, or a skip.
type refEntry struct {
	rec  *Record
	skip SkipReason
}

func (e refEntry) String() string {
	if e.rec != nil {
		return fmt.Sprintf("record %+v", *e.rec)
	}
	return "skip " + string(e.skip)
}

// refDecode is what the Decoder must do with JSON Lines, written with
// encoding/json only: each non-blank line is one item; an SQS or SNS
// message is unwrapped (at most three levels), an EventBridge envelope of a
// CloudTrail detail type gives its detail with the envelope's source and
// account, a bare record is itself.
func refDecode(data []byte) []refEntry {
	var out []refEntry
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			out = refItem(out, line, 0)
		}
	}
	return out
}

func refItem(out []refEntry, b []byte, depth int) []refEntry {
	var it item
	if err := json.Unmarshal(b, &it); err != nil {
		return append(out, refEntry{skip: SkipMalformed})
	}
	switch {
	case it.Body != nil || it.BodyAPI != nil || it.Message != nil:
		if depth >= 3 {
			return append(out, refEntry{skip: SkipNotRecord})
		}
		body := it.Body
		if body == nil {
			body = it.BodyAPI
		}
		if body == nil {
			body = it.Message
		}
		return refItem(out, []byte(*body), depth+1)
	case it.DetailType != "":
		switch it.DetailType {
		case "AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", "AWS Service Event via CloudTrail":
		default:
			return append(out, refEntry{skip: SkipDetailType})
		}
		if len(it.Detail) == 0 || it.Detail[0] != '{' {
			return append(out, refEntry{skip: SkipNotRecord})
		}
		rec := new(Record)
		if err := json.Unmarshal(it.Detail, rec); err != nil {
			return append(out, refEntry{skip: SkipMalformed})
		}
		rec.Envelope = Envelope{Source: it.Source, Account: it.Account}
		return append(out, refEntry{rec: rec})
	}
	if it.EventName == "" && it.EventSource == "" && it.EventTime == "" && it.UserIdentity.Type == "" {
		return append(out, refEntry{skip: SkipNotRecord})
	}
	rec := it.Record
	return append(out, refEntry{rec: &rec})
}
