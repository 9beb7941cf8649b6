package events

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/netip"
	"os"
	"strings"
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

// TestClassifyNetworkVPCEndpoint decodes CloudTrail records (through the
// production decoder, so vpcEndpointId must survive it) and classifies
// where each call came from: a call through a VPC endpoint is inside AWS,
// its benign twins without one keep their address's class.
func TestClassifyNetworkVPCEndpoint(t *testing.T) {
	raw, err := os.ReadFile("testdata/vpc-endpoint-calls.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name   string          `json:"name"`
		Record json.RawMessage `json:"record"`
		Want   struct {
			Class       NetClass `json:"class"`
			Key         string   `json:"key"`
			Region      string   `json:"region"`
			Service     string   `json:"service"`
			VPCEndpoint string   `json:"vpc_endpoint"`
		} `json:"want"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 8 {
		t.Fatalf("only %d cases in the fixture", len(cases))
	}
	ranges, err := LoadIPRangesFile("testdata/ip-ranges-small.json")
	if err != nil {
		t.Fatal(err)
	}
	n := &Normalizer{Ranges: ranges, Keying: DefaultKeyingRules()}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var recs []*Record
			dec := Decoder{Record: func(r *Record) { recs = append(recs, r) },
				Skip: func(reason SkipReason, detail string) { t.Errorf("skipped: %s %s", reason, detail) }}
			if err := dec.Decode(bytes.NewReader(c.Record)); err != nil || len(recs) != 1 {
				t.Fatalf("decode: %v, %d records", err, len(recs))
			}
			ev, err := n.Normalize(recs[0])
			if err != nil {
				t.Fatal(err)
			}
			got := ev.Network
			w := c.Want
			if got.Class != w.Class || got.Key != w.Key || got.Region != w.Region || got.Service != w.Service || got.VPCEndpoint != w.VPCEndpoint {
				t.Errorf("network %+v, want %+v", got, w)
			}
		})
	}
}

func TestIPRangesPublication(t *testing.T) {
	r, err := LoadIPRangesFile("testdata/ip-ranges-small.json")
	if err != nil {
		t.Fatal(err)
	}
	if r.SyncToken() != 1700000000 || r.CreateDate() != "2026-11-01-00-00-00" {
		t.Errorf("syncToken %d createDate %q", r.SyncToken(), r.CreateDate())
	}
	bad, err := ReadIPRanges(strings.NewReader(`{"syncToken":"soon","prefixes":[{"ip_prefix":"3.80.0.0/12","region":"us-east-1","service":"EC2"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if bad.SyncToken() != 0 {
		t.Errorf("unparseable syncToken read as %d", bad.SyncToken())
	}
	var none *IPRanges
	if none.SyncToken() != 0 || none.CreateDate() != "" || none.Len() != 0 {
		t.Error("nil ranges report a publication")
	}
}

// TestReadIPRangesBounded: a document past MaxIPRangesBytes once
// decompressed (a gzip bomb) fails to decode instead of being read whole;
// its benign twin, the same document within the bound, loads.
func TestReadIPRangesBounded(t *testing.T) {
	doc := func(padding int) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(`{"syncToken":"1700000000","prefixes":[`))
		pad := bytes.Repeat([]byte(" "), 1<<20)
		for n := padding; n > 0; n -= len(pad) {
			zw.Write(pad[:min(n, len(pad))])
		}
		zw.Write([]byte(`{"ip_prefix":"3.80.0.0/12","region":"us-east-1","service":"EC2"}]}`))
		zw.Close()
		return buf.Bytes()
	}
	if _, err := ReadIPRanges(bytes.NewReader(doc(MaxIPRangesBytes))); err == nil {
		t.Error("a document past MaxIPRangesBytes was read")
	}
	if r, err := ReadIPRanges(bytes.NewReader(doc(1 << 20))); err != nil || r.Len() != 1 {
		t.Errorf("a padded document within the bound: %v", err)
	}
}
