package events

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// TestAdversarialTestEventsNamespace: with enableTestEvents a PutEvents
// caller sends events with source trailwatch.test. The decoder used to drop
// the envelope's source, so such an event trained (or reset) the real
// principal's baseline. A test event's principal is now keyed in its own
// namespace; the same record delivered by CloudTrail (source aws.iam) is
// the benign twin and keeps the real key.
func TestAdversarialTestEventsNamespace(t *testing.T) {
	const realKey = "111122223333:user/alice"
	n := &Normalizer{Keying: DefaultKeyingRules()}
	tests := []struct {
		name         string
		file         string
		wantKey      string
		wantTest     bool
		wantEnvelope Envelope
	}{
		{"test event on the central bus", "testdata/test-events.jsonl", TestPrincipalPrefix + realKey, true,
			Envelope{Source: TestSource, Account: "111122223333"}},
		{"test event from another account, inside an SQS message", "testdata/test-events-sqs.json", TestPrincipalPrefix + realKey, true,
			Envelope{Source: TestSource, Account: "999988887777"}},
	}
	recs, skips := collect(t, mustRead(t, "testdata/test-events.jsonl"))
	if len(skips) != 0 || len(recs) != 2 {
		t.Fatalf("test-events.jsonl: %d records, skips %v", len(recs), skips)
	}
	// The benign twin: the same record, from CloudTrail.
	real, err := n.Normalize(recs[1])
	if err != nil {
		t.Fatal(err)
	}
	if real.Principal != realKey || real.Test || recs[1].Envelope.Source != "aws.iam" {
		t.Errorf("CloudTrail's event: principal %q test %v envelope %+v; want %q, not a test", real.Principal, real.Test, recs[1].Envelope, realKey)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, skips := collect(t, mustRead(t, tt.file))
			if len(skips) != 0 || len(recs) == 0 {
				t.Fatalf("%d records, skips %v", len(recs), skips)
			}
			r := recs[0]
			if r.Envelope != tt.wantEnvelope {
				t.Errorf("envelope %+v, want %+v", r.Envelope, tt.wantEnvelope)
			}
			ev, err := n.NormalizeSelected(r)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Principal != tt.wantKey || ev.Test != tt.wantTest {
				t.Errorf("principal %q test %v, want %q test %v", ev.Principal, ev.Test, tt.wantKey, tt.wantTest)
			}
			if ev.Principal == real.Principal {
				t.Errorf("the test event shares the real principal's baseline key %q", ev.Principal)
			}
			if key, _, _, _ := n.PrincipalKey(r); key != ev.Principal {
				t.Errorf("PrincipalKey %q, Normalize %q", key, ev.Principal)
			}
		})
	}
}

// TestRealNamespaceCannotEnterTheTestNamespace: a record outside the test
// namespace whose key would start with TestPrincipalPrefix (only a forged
// account ID "test" does) is skipped, so no real key ever equals a test key.
func TestRealNamespaceCannotEnterTheTestNamespace(t *testing.T) {
	recs, _ := collect(t, mustRead(t, "testdata/test-namespace-forged.jsonl"))
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	n := &Normalizer{Keying: DefaultKeyingRules()}
	_, err := n.Normalize(recs[0])
	var se *SkipError
	if !errors.As(err, &se) || se.Reason != SkipNoPrincipal {
		t.Fatalf("Normalize: %v, want a %s skip", err, SkipNoPrincipal)
	}
	// The same forged record as a test event stays in the test namespace.
	recs[0].Envelope.Source = TestSource
	ev, err := n.Normalize(recs[0])
	if err != nil || !strings.HasPrefix(ev.Principal, TestPrincipalPrefix) || !ev.Test {
		t.Errorf("as a test event: %q %v", ev.Principal, err)
	}
}

// TestTestSourceMatchesInfra keeps TestSource equal to the CDK app's (a
// separate Go module): pattern.go is parsed, not searched.
func TestTestSourceMatchesInfra(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../infra/internal/ingest/pattern.go", nil, 0)
	if err != nil {
		t.Fatalf("the CDK app's pattern: %v", err)
	}
	var infra string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if name.Name != "TestSource" || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					infra, _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	if infra != TestSource {
		t.Errorf("infra TestSource %q, events.TestSource %q", infra, TestSource)
	}
}
