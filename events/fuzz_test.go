package events

import (
	"bytes"
	"encoding/json"
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
// whatever encoding/json accepts as a Record, the scanner decodes to the
// same value.
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
			_ = scanRecord(data, &got, nil) // must not panic
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
