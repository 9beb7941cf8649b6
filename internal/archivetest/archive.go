// Package archivetest lays CloudTrail records out as an organization
// trail's S3 archive (AWSLogs/o-…/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/),
// in a local directory or in a bucket of an S3 API server, for tests and
// benchmarks of archive reading.
package archivetest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// OrgID is the organization ID in the archive's keys.
const OrgID = "o-tw1example"

// File is one CloudTrail log file of the archive.
type File struct {
	Key  string // AWSLogs/o-…/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<name>.json.gz
	Body []byte // gzip of {"Records":[...]}
	// Records is how many records it holds.
	Records int
}

// ReadJSONL reads a (gzip) JSON Lines file of CloudTrail records.
func ReadJSONL(path string) ([]json.RawMessage, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(zr); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		raw = b.Bytes()
	}
	var out []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, append(json.RawMessage(nil), line...))
		}
	}
	return out, sc.Err()
}

// head is what the layout needs of a record.
type head struct {
	EventTime string `json:"eventTime"`
	Region    string `json:"awsRegion"`
	Recipient string `json:"recipientAccountId"`
	Identity  struct {
		AccountID string `json:"accountId"`
	} `json:"userIdentity"`
}

// Layout groups records into CloudTrail log files as an organization trail
// delivers them: one file per account, region and 5-minute window, named
// <account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<random>.json.gz with the
// window's end and stored under the day directory of that time. Records
// keep their order within a file. The names are deterministic.
func Layout(records []json.RawMessage) ([]File, error) {
	return LayoutEvery(records, 5*time.Minute)
}

// LayoutEvery is Layout with files of window instead of 5 minutes (fewer,
// larger files, as a busy account's are).
func LayoutEvery(records []json.RawMessage, window time.Duration) ([]File, error) {
	type group struct {
		account, region string
		end             time.Time
		recs            []json.RawMessage
	}
	groups := map[string]*group{}
	for i, rec := range records {
		var h head
		if err := json.Unmarshal(rec, &h); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		t, err := time.Parse(time.RFC3339, h.EventTime)
		if err != nil {
			return nil, fmt.Errorf("record %d: eventTime: %w", i, err)
		}
		acct := h.Recipient
		if acct == "" {
			acct = h.Identity.AccountID
		}
		if acct == "" || h.Region == "" {
			return nil, fmt.Errorf("record %d: no account or region", i)
		}
		end := t.UTC().Truncate(window).Add(window)
		k := acct + "/" + h.Region + "/" + end.Format(time.RFC3339)
		g, ok := groups[k]
		if !ok {
			g = &group{account: acct, region: h.Region, end: end}
			groups[k] = g
		}
		g.recs = append(g.recs, rec)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]File, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		var body bytes.Buffer
		body.WriteString(`{"Records":[`)
		for i, r := range g.recs {
			if i > 0 {
				body.WriteByte(',')
			}
			body.Write(r)
		}
		body.WriteString("]}")
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(body.Bytes())
		if err := zw.Close(); err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(k))
		name := fmt.Sprintf("%s_CloudTrail_%s_%s_%s.json.gz", g.account, g.region, g.end.Format("20060102T1504Z"), strings.ToUpper(hex.EncodeToString(sum[:8])))
		key := fmt.Sprintf("AWSLogs/%s/%s/CloudTrail/%s/%s/%s", OrgID, g.account, g.region, g.end.Format("2006/01/02"), name)
		out = append(out, File{Key: key, Body: gz.Bytes(), Records: len(g.recs)})
	}
	return out, nil
}

// WriteDir writes the files below dir, as a local copy of the archive.
func WriteDir(dir string, files []File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// PutObjectAPI is the S3 call Upload makes.
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Upload puts the files into bucket, eight at a time.
func Upload(ctx context.Context, c PutObjectAPI, bucket string, files []File) error {
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(files))
	for _, f := range files {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(f.Key), Body: bytes.NewReader(f.Body)})
			if err != nil {
				err = fmt.Errorf("put %s: %w", f.Key, err)
			}
			errs <- err
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
