package sample

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// WriteJSONL writes one record per line.
func WriteJSONL(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("encode record %s: %w", recs[i].EventID, err)
		}
	}
	return bw.Flush()
}

// WriteJSONLGzip writes the records as gzip JSON Lines to path.
func WriteJSONLGzip(path string, recs []Record) error {
	return writeGzip(path, func(w io.Writer) error { return WriteJSONL(w, recs) })
}

// WriteLabels writes the labels as indented JSON.
func WriteLabels(w io.Writer, labels []Label) error {
	b, err := json.MarshalIndent(labels, "", "  ")
	if err != nil {
		return fmt.Errorf("encode labels: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteLabelsFile writes labels.json at path.
func WriteLabelsFile(path string, labels []Label) error {
	var b bytes.Buffer
	if err := WriteLabels(&b, labels); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func writeGzip(path string, fill func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		f.Close()
		return err
	}
	if err := fill(zw); err != nil {
		f.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// S3File is one CloudTrail log file of the S3 layout.
type S3File struct {
	// Path is relative to the output directory:
	// AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<name>.json.gz
	Path    string
	Records []Record
}

// S3Files arranges records the way CloudTrail delivers them to S3: one file
// per account, region and hour, named by its delivery time, records in no
// particular order, and about 2% of records delivered late in the next
// hour's file. It is deterministic in seed.
func S3Files(recs []Record, seed uint64) []S3File {
	r := rand.New(rand.NewPCG(seed^0x53335f6c61796f75, seed))
	type key struct {
		acct, region string
		hour         time.Time
	}
	groups := map[key][]Record{}
	var keys []key
	for _, rec := range recs {
		t, err := time.Parse(time.RFC3339, rec.EventTime)
		if err != nil {
			continue
		}
		h := t.Truncate(time.Hour)
		if r.IntN(50) == 0 {
			h = h.Add(time.Hour)
		}
		k := key{rec.RecipientAccountID, rec.AWSRegion, h}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], rec)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.acct, b.acct), cmp.Compare(a.region, b.region), a.hour.Compare(b.hour))
	})
	files := make([]S3File, 0, len(keys))
	for _, k := range keys {
		rs := groups[k]
		r.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		delivered := k.hour.Add(time.Hour).Add(time.Duration(1+r.IntN(9)) * time.Minute)
		name := fmt.Sprintf("%s_CloudTrail_%s_%s_%s.json.gz", k.acct, k.region, delivered.Format("20060102T1504Z"), randString(r, mixedAlnum, 16))
		p := strings.Join([]string{"AWSLogs", k.acct, "CloudTrail", k.region, delivered.Format("2006"), delivered.Format("01"), delivered.Format("02"), name}, "/")
		files = append(files, S3File{Path: p, Records: rs})
	}
	return files
}

// WriteS3 writes the CloudTrail S3 layout under dir.
func WriteS3(dir string, recs []Record, seed uint64) error {
	for _, f := range S3Files(recs, seed) {
		err := writeGzip(filepath.Join(dir, filepath.FromSlash(f.Path)), func(w io.Writer) error {
			b, err := json.Marshal(struct {
				Records []Record `json:"Records"`
			}{f.Records})
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		})
		if err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	return nil
}

// Envelope is an EventBridge event carrying a CloudTrail record.
type Envelope struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     *Record  `json:"detail"`
}

// DetailType is the EventBridge detail-type for a record.
func DetailType(rec *Record) string {
	switch rec.EventType {
	case "AwsConsoleSignIn":
		return "AWS Console Sign In via CloudTrail"
	case "AwsServiceEvent":
		return "AWS Service Event via CloudTrail"
	}
	return "AWS API Call via CloudTrail"
}

// WriteEventBridge writes the records as JSON Lines of EventBridge envelopes.
func WriteEventBridge(w io.Writer, recs []Record, seed uint64) error {
	r := rand.New(rand.NewPCG(seed^0x6576656e74627267, seed))
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range recs {
		rec := &recs[i]
		env := Envelope{Version: "0", ID: uuid4(r), DetailType: DetailType(rec),
			Source: "aws." + strings.TrimSuffix(rec.EventSource, ".amazonaws.com"), Account: rec.RecipientAccountID,
			Time: rec.EventTime, Region: rec.AWSRegion, Resources: []string{}, Detail: rec}
		if err := enc.Encode(&env); err != nil {
			return fmt.Errorf("encode envelope %s: %w", rec.EventID, err)
		}
	}
	return bw.Flush()
}
