package events

import (
	"net/netip"
	"os"
	"testing"
)

func TestClassifySource(t *testing.T) {
	ranges, err := LoadIPRangesFile("testdata/ip-ranges-small.json")
	if err != nil {
		t.Fatal(err)
	}
	n := &Normalizer{Ranges: ranges}
	tests := []struct {
		src         string
		wantClass   NetClass
		wantKey     string
		wantService string
	}{
		{"3.85.12.7", NetAWS, "aws/us-east-1", "EC2"},
		{"3.95.200.1", NetAWS, "aws/us-east-1", "EC2"},
		{"52.94.1.9", NetAWS, "aws/us-east-1", "AMAZON"},
		{"54.228.9.9", NetAWS, "aws/eu-west-1", "EC2"},
		{"54.229.9.9", NetAWS, "aws/eu-west-1", "AMAZON"},
		{"2600:1f18:1234::5", NetAWS, "aws/us-east-1", "EC2"},
		{"203.0.113.77", NetPublic, "203.0.113.0/24", ""},
		{"2001:db8:abcd:12::1", NetPublic, "2001:db8:abcd::/48", ""},
		{"10.1.2.3", NetPrivate, "10.1.2.0/24", ""},
		{"AWS Internal", NetAWSInternal, "aws-internal", ""},
		{"lambda.amazonaws.com", NetService, "lambda.amazonaws.com", ""},
		{"", NetUnknown, "unknown", ""},
		{"not an address", NetUnknown, "other:not an address", ""},
		{"::ffff:203.0.113.5", NetPublic, "203.0.113.0/24", ""},
	}
	for _, tt := range tests {
		got := n.ClassifySource(tt.src)
		if got.Class != tt.wantClass || got.Key != tt.wantKey || got.Service != tt.wantService {
			t.Errorf("ClassifySource(%q) = %+v, want class %s key %s service %q", tt.src, got, tt.wantClass, tt.wantKey, tt.wantService)
		}
	}
	// Without ranges everything still works: public addresses stay public.
	bare := &Normalizer{}
	if got := bare.ClassifySource("3.85.12.7"); got.Class != NetPublic || got.Key != "3.85.12.0/24" {
		t.Errorf("without ranges: %+v", got)
	}
}

// TestIPRangesSnapshot reads AWS's published ranges from the shared
// reference data beside the checkout (never copied into the repository).
func TestIPRangesSnapshot(t *testing.T) {
	const path = "../../shared/data/aws-ip-ranges.json.gz"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("AWS ip-ranges snapshot not present (%s): it lives in the shared reference data beside a developer checkout", path)
	}
	r, err := LoadIPRangesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() < 1000 {
		t.Fatalf("only %d prefixes loaded", r.Len())
	}
	// A well-known us-east-1 EC2 block and a documentation address.
	if rng, ok := r.Lookup(netip.MustParseAddr("3.80.0.1")); !ok || rng.Region != "us-east-1" {
		t.Errorf("3.80.0.1 = %+v, %v; want us-east-1", rng, ok)
	}
	if _, ok := r.Lookup(netip.MustParseAddr("203.0.113.1")); ok {
		t.Error("203.0.113.1 (TEST-NET-3) classified as AWS")
	}
}

func TestReadIPRangesRejectsGarbage(t *testing.T) {
	for _, name := range []string{"empty", "garbage"} {
		f := t.TempDir() + "/" + name
		data := map[string]string{"empty": `{"prefixes":[]}`, "garbage": "\x00\x01binary"}[name]
		if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadIPRangesFile(f); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
