package sample

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	defaultOnce sync.Once
	defaultDS   *Dataset
	defaultErr  error
)

func defaultDataset(t *testing.T) *Dataset {
	t.Helper()
	defaultOnce.Do(func() { defaultDS, defaultErr = Generate(DefaultConfig()) })
	if defaultErr != nil {
		t.Fatal(defaultErr)
	}
	return defaultDS
}

func jsonl(t *testing.T, ds *Dataset) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJSONL(&b, ds.Records); err != nil {
		t.Fatal(err)
	}
	if err := WriteLabels(&b, ds.Labels); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDeterminism(t *testing.T) {
	a := jsonl(t, defaultDataset(t))
	ds2, err := Generate(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, jsonl(t, ds2)) {
		t.Fatal("same seed gave different output")
	}
	cfg := DefaultConfig()
	cfg.Seed = 2
	ds3, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, jsonl(t, ds3)) {
		t.Fatal("different seeds gave the same output")
	}
}

func TestShape(t *testing.T) {
	ds := defaultDataset(t)
	if n := len(ds.Records); n < 20000 || n > 45000 {
		t.Errorf("record count %d outside 20000..45000", n)
	}
	var b bytes.Buffer
	if err := WriteJSONL(&b, ds.Records); err != nil {
		t.Fatal(err)
	}
	type want struct {
		key  string
		kind string
	}
	required := []want{
		{"eventVersion", "string"}, {"userIdentity", "object"}, {"eventTime", "string"}, {"eventSource", "string"},
		{"eventName", "string"}, {"awsRegion", "string"}, {"sourceIPAddress", "string"}, {"userAgent", "string"},
		{"requestParameters", "object|null"}, {"responseElements", "object|null"}, {"eventID", "string"},
		{"readOnly", "bool"}, {"eventType", "string"}, {"managementEvent", "bool"}, {"recipientAccountId", "string"},
		{"eventCategory", "string"},
	}
	kindOf := func(v any) string {
		switch v.(type) {
		case nil:
			return "null"
		case string:
			return "string"
		case bool:
			return "bool"
		case float64:
			return "number"
		case map[string]any:
			return "object"
		case []any:
			return "array"
		}
		return "?"
	}
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := map[string]string{} // eventID -> userIdentity.arn
	readOnly, prev := 0, ""
	sc := bufio.NewScanner(&b)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		for _, w := range required {
			v, ok := m[w.key]
			if !ok {
				t.Fatalf("line %d: missing %s", line, w.key)
			}
			if k := kindOf(v); !strings.Contains(w.kind, k) {
				t.Fatalf("line %d: %s is %s, want %s", line, w.key, k, w.kind)
			}
		}
		et := m["eventTime"].(string)
		if _, err := time.Parse(time.RFC3339, et); err != nil {
			t.Fatalf("line %d: eventTime %q: %v", line, et, err)
		}
		if et < prev {
			t.Fatalf("line %d: records not sorted by eventTime", line)
		}
		prev = et
		id := m["eventID"].(string)
		if !uuidRE.MatchString(id) {
			t.Fatalf("line %d: eventID %q is not a UUID v4", line, id)
		}
		if _, dup := ids[id]; dup {
			t.Fatalf("line %d: duplicate eventID %s", line, id)
		}
		ui := m["userIdentity"].(map[string]any)
		if ui["type"] == nil {
			t.Fatalf("line %d: userIdentity without type", line)
		}
		arn, _ := ui["arn"].(string)
		ids[id] = arn
		if m["readOnly"].(bool) {
			readOnly++
		}
		if key, _ := ui["accessKeyId"].(string); key != "" && !strings.HasPrefix(key, "AKIA") && !strings.HasPrefix(key, "ASIA") {
			t.Fatalf("line %d: access key %q", line, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	share := float64(readOnly) / float64(line)
	if share < 0.60 || share > 0.80 {
		t.Errorf("read-only share %.3f outside 0.60..0.80", share)
	}
	names := map[string]bool{}
	for _, l := range ds.Labels {
		names[l.Name] = true
		if len(l.EventIDs) == 0 {
			t.Errorf("label %s has no events", l.Name)
		}
		if (l.Kind == KindAttack) != (l.Expect == ExpectHigh) {
			t.Errorf("label %s: kind %s with expect %s", l.Name, l.Kind, l.Expect)
		}
		for _, id := range l.EventIDs {
			arn, ok := ids[id]
			if !ok {
				t.Errorf("label %s: event %s not in output", l.Name, id)
				continue
			}
			if arn != l.PrincipalARN {
				t.Errorf("label %s: event %s belongs to %s, not %s", l.Name, id, arn, l.PrincipalARN)
			}
		}
	}
	for _, n := range []string{"stolen-access-key", "cloudtrail-stopped", "bucket-made-public", "lambda-credentials-stolen",
		"snapshot-shared-out", "sg-opened-to-world", "new-employee", "ci-new-service", "back-from-vacation",
		"terraform-big-run", "new-laptop", "dst-shift"} {
		if !names[n] {
			t.Errorf("label %s missing", n)
		}
	}
}

func TestS3Layout(t *testing.T) {
	ds := defaultDataset(t)
	nameRE := regexp.MustCompile(`^AWSLogs/(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8})T(\d{4})Z_[A-Za-z0-9]{16}\.json\.gz$`)
	files := S3Files(ds.Records, ds.Seed)
	seen := map[string]int{}
	total := 0
	for _, f := range files {
		m := nameRE.FindStringSubmatch(f.Path)
		if m == nil {
			t.Fatalf("bad file name %s", f.Path)
		}
		if m[1] != m[6] || m[2] != m[7] || m[3]+m[4]+m[5] != m[8] {
			t.Fatalf("path and name disagree: %s", f.Path)
		}
		for _, r := range f.Records {
			if r.RecipientAccountID != m[1] || r.AWSRegion != m[2] {
				t.Fatalf("record %s in wrong file %s", r.EventID, f.Path)
			}
			seen[r.EventID]++
			total++
		}
	}
	if total != len(ds.Records) {
		t.Fatalf("S3 files hold %d records, JSONL has %d", total, len(ds.Records))
	}
	for _, r := range ds.Records {
		if seen[r.EventID] != 1 {
			t.Fatalf("record %s is in %d files", r.EventID, seen[r.EventID])
		}
	}
	// Round-trip one file through the writer.
	dir := t.TempDir()
	if err := WriteS3(dir, ds.Records[:200], ds.Seed); err != nil {
		t.Fatal(err)
	}
}

func TestEventBridge(t *testing.T) {
	ds := defaultDataset(t)
	var b bytes.Buffer
	if err := WriteEventBridge(&b, ds.Records[:500], ds.Seed); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&b)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		var env struct {
			Version    string          `json:"version"`
			DetailType string          `json:"detail-type"`
			Source     string          `json:"source"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil {
			t.Fatal(err)
		}
		if env.Version != "0" || !strings.HasPrefix(env.Source, "aws.") || !strings.HasSuffix(env.DetailType, "via CloudTrail") || len(env.Detail) < 10 {
			t.Fatalf("bad envelope %s", sc.Text())
		}
		n++
	}
	if n != 500 {
		t.Fatalf("%d envelopes, want 500", n)
	}
}

func TestGenerateLoad(t *testing.T) {
	var b bytes.Buffer
	if err := GenerateLoad(&b, 7, 10000, 100); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&b)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	arns := map[string]bool{}
	n, writes, prev := 0, 0, ""
	for sc.Scan() {
		var r struct {
			EventTime    string `json:"eventTime"`
			ReadOnly     bool   `json:"readOnly"`
			UserIdentity struct {
				ARN string `json:"arn"`
			} `json:"userIdentity"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.EventTime < prev {
			t.Fatal("load records out of time order")
		}
		prev = r.EventTime
		arns[r.UserIdentity.ARN] = true
		if !r.ReadOnly {
			writes++
		}
		n++
	}
	if n != 10000 {
		t.Fatalf("%d lines, want 10000", n)
	}
	if len(arns) != 100 {
		t.Fatalf("%d principals, want 100", len(arns))
	}
	if s := float64(writes) / float64(n); s < 0.2 || s > 0.4 {
		t.Errorf("mutating share %.2f, want about 0.3", s)
	}
}

func TestGzipDeterministic(t *testing.T) {
	ds := defaultDataset(t)
	dir := t.TempDir()
	var out [2][]byte
	for i := range out {
		p := dir + "/x.jsonl.gz"
		if err := WriteJSONLGzip(p, ds.Records[:1000]); err != nil {
			t.Fatal(err)
		}
		f, err := readAll(p)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = f
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Fatal("gzip output differs between runs")
	}
	zr, err := gzip.NewReader(bytes.NewReader(out[0]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(zr); err != nil {
		t.Fatal(err)
	}
}

func TestCLICommand(t *testing.T) {
	for key, want := range map[string]string{
		"iam:CreateUser":                    "iam.create-user",
		"rds:ModifyDBSnapshotAttribute":     "rds.modify-db-snapshot-attribute",
		"s3:PutBucketPolicy":                "s3api.put-bucket-policy",
		"lambda:GetFunction20150331v2":      "lambda.get-function",
		"ec2:AuthorizeSecurityGroupIngress": "ec2.authorize-security-group-ingress",
	} {
		if got := cliCommand(mustAPI(key)); got != want {
			t.Errorf("cliCommand(%s) = %s, want %s", key, got, want)
		}
	}
}

func readAll(p string) ([]byte, error) { return os.ReadFile(p) }

// TestSampleNetworksConfig: the sample organization's thresholds.yaml names
// the networks the generator's CI jobs call from (SampleNetworks), so the
// labels that need them are judged against the ranges the sample uses.
func TestSampleNetworksConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "sample", "thresholds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Networks []struct {
			Name  string   `yaml:"name"`
			CIDRs []string `yaml:"cidrs"`
		} `yaml:"networks"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, n := range f.Networks {
		got[n.Name] = n.CIDRs
	}
	if !reflect.DeepEqual(got, SampleNetworks) {
		t.Errorf("thresholds.yaml networks %v, want the generator's %v", got, SampleNetworks)
	}
}
