package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestAdversarialScannerValidatesSkippedValues: the scanner's header says
// it accepts exactly what encoding/json accepts, but it passed over invalid
// escapes (and nesting beyond encoding/json's limit) inside the values it
// skips, so a record encoding/json rejects was used. Each bad input must be
// rejected by the scanner and skipped as malformed by the decoder; each
// benign twin (the same place, valid JSON) must decode exactly as
// encoding/json decodes it.
func TestAdversarialScannerValidatesSkippedValues(t *testing.T) {
	const head = `{"eventTime":"2026-10-05T14:03:22Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","readOnly":false,"userIdentity":{"type":"Root","accountId":"111122223333"},`
	valid := `"ok \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \uD834"`
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	envelope := func(field string) string {
		return `{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","account":"111122223333",` + field + `,"detail":` + head + `"eventID":"e1"}}`
	}
	tests := []struct {
		name string
		bad  string // encoding/json rejects it
		good string // the benign twin: encoding/json accepts it
	}{
		{"unknown escape in a skipped string",
			head + `"futureField":"bad \x escape"}`, head + `"futureField":` + valid + `}`},
		{"short unicode escape in raw requestParameters",
			head + `"requestParameters":{"a":"\u12"}}`, head + `"requestParameters":{"a":` + valid + `}}`},
		{"non-hex unicode escape in a skipped array",
			head + `"futureField":["\u00zz"]}`, head + `"futureField":["\u00ff"]}`},
		{"invalid escape in a key of a skipped object",
			head + `"futureField":{"k\q":1}}`, head + `"futureField":{"k\n":1}}`},
		{"invalid escape in a key of userIdentity's unknown object",
			head[:len(head)-1] + `,"futureIdentity":{"\a":1}}`, head[:len(head)-1] + `,"futureIdentity":{"\t":1}}`},
		{"backslash before a control byte",
			head + `"futureField":"\` + "\x01" + `"}`, head + `"futureField":"\\"}`},
		{"nesting beyond encoding/json's 10000 levels",
			head + `"requestParameters":` + nest(10000) + `}`, head + `"requestParameters":` + nest(9999) + `}`},
		{"invalid escape in a skipped envelope field",
			envelope(`"resources":["\x"]`), envelope(`"resources":["arn:aws:iam::111122223333:user\/bob"]`)},
		{"nesting beyond the limit in a skipped envelope field",
			envelope(`"resources":` + nest(10000)), envelope(`"resources":` + nest(9999))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var it item
			if err := json.Unmarshal([]byte(tt.bad), &it); err == nil {
				t.Fatalf("encoding/json accepts the bad input")
			}
			if err := json.Unmarshal([]byte(tt.good), &it); err != nil {
				t.Fatalf("encoding/json rejects the benign twin: %v", err)
			}
			sc := scanner{b: []byte(tt.bad)}
			if err := sc.scanItem(&item{}); err == nil {
				t.Error("the scanner accepts what encoding/json rejects")
			}
			recs, skips := collect(t, []byte(tt.bad+"\n"))
			if len(recs) != 0 || skips[SkipMalformed] != 1 {
				t.Errorf("decoder: %d records, skips %v; want one malformed skip", len(recs), skips)
			}

			sc = scanner{b: []byte(tt.good)}
			if err := sc.scanItem(&item{}); err != nil {
				t.Errorf("the scanner rejects the benign twin: %v", err)
			}
			recs, skips = collect(t, []byte(tt.good+"\n"))
			want := refDecode([]byte(tt.good + "\n"))
			if len(recs) != 1 || len(skips) != 0 || len(want) != 1 || !reflect.DeepEqual(*recs[0], *want[0].rec) {
				t.Errorf("decoder: %d records, skips %v; want the record encoding/json decodes", len(recs), skips)
			}
		})
	}
}
