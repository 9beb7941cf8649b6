package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/emf"
)

// Where AWS publishes its ranges, and the topic that announces each change.
const (
	// RangesURL is the only document the function fetches when a
	// notification names none.
	RangesURL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
	// RangesHost is the only host the function fetches from.
	RangesHost = "ip-ranges.amazonaws.com"
	// TopicARN is AWS's public topic announcing a new ip-ranges.json.
	TopicARN = "arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged"
)

// Bounds on what is accepted as AWS's ranges.
const (
	// MaxDocumentBytes bounds the download (AWS's file is a few MB).
	MaxDocumentBytes = 32 << 20
	// MinPrefixes is the fewest prefixes a plausible file holds (AWS
	// publishes over ten thousand); a shorter list is refused, so a
	// truncated or hostile answer never replaces the stored one.
	MinPrefixes = 1000
)

// physicalID is the custom resource's physical ID: one resource, kept.
const physicalID = "trailwatch-aws-ip-ranges"

// objectStore is the S3 API the function calls.
type objectStore interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// httpDoer sends HTTP requests (*http.Client).
type httpDoer interface {
	Do(req *http.Request) (*http.Response, error)
}

// handler keeps the bucket copy of AWS's ranges current.
type handler struct {
	store  objectStore
	bucket string
	key    string
	// fetch downloads the ranges; respond answers CloudFormation.
	fetch   httpDoer
	respond httpDoer
	// minPrefixes is MinPrefixes outside tests.
	minPrefixes int
	log         *slog.Logger
	metrics     *emf.Writer
}

// Notice is the message AWS publishes on TopicARN.
type Notice struct {
	CreateTime string `json:"create-time"`
	SyncToken  string `json:"synctoken"`
	MD5        string `json:"md5"`
	URL        string `json:"url"`
}

// trigger is what started an update, parsed from the notice (if any).
type trigger struct {
	source    string // "sns", "schedule", "deploy"
	url       string
	syncToken int64  // 0: unknown
	md5       []byte // nil: unknown
}

// invocation holds the fields that tell the three event kinds apart.
type invocation struct {
	Records []struct {
		EventSource string `json:"EventSource"`
	} `json:"Records"`
	RequestType string `json:"RequestType"`
	Source      string `json:"source"`
	DetailType  string `json:"detail-type"`
}

// Handle serves the three ways the function is started: AWS's SNS
// notification of a new file, the daily EventBridge schedule, and the
// CloudFormation custom resource at each deployment. An SNS or scheduled
// update that fails returns its error (Lambda retries asynchronous
// invocations, and the schedule comes again); a failure at deployment is
// logged and counted but answered SUCCESS, because the function ships with
// bundled ranges and a deployment must not depend on a download.
func (h *handler) Handle(ctx context.Context, raw json.RawMessage) (string, error) {
	var inv invocation
	if err := json.Unmarshal(raw, &inv); err != nil {
		return "", fmt.Errorf("decode invocation: %w", err)
	}
	switch {
	case inv.RequestType != "":
		var ev cfn.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return "", fmt.Errorf("decode custom resource event: %w", err)
		}
		return "", h.deploy(ctx, ev)
	case len(inv.Records) > 0 && inv.Records[0].EventSource == "aws:sns":
		var ev lambdaevents.SNSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return "", fmt.Errorf("decode SNS event: %w", err)
		}
		var errs []error
		for _, r := range ev.Records {
			t, err := parseNotice(r.SNS)
			if err == nil {
				err = h.update(ctx, t)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("notification %s: %w", r.SNS.MessageID, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			h.failed(ctx, "sns", err)
			return "", err
		}
		return "updated", nil
	case inv.Source == "aws.events" && inv.DetailType == "Scheduled Event":
		if err := h.update(ctx, trigger{source: "schedule", url: RangesURL}); err != nil {
			h.failed(ctx, "schedule", err)
			return "", err
		}
		return "updated", nil
	}
	return "", fmt.Errorf("unrecognized invocation (want an SNS notification, a scheduled event or a custom resource request)")
}

// failed logs a failed update and counts IPRangesUpdateFailures (no
// dimensions).
func (h *handler) failed(ctx context.Context, source string, err error) {
	_ = h.metrics.Count("IPRangesUpdateFailures", 1, nil)
	h.log.ErrorContext(ctx, "AWS ip ranges not updated, the stored copy stays", "trigger", source, "error", err)
}

// parseNotice validates AWS's notification.
func parseNotice(m lambdaevents.SNSEntity) (trigger, error) {
	t := trigger{source: "sns"}
	if m.TopicArn != TopicARN {
		return t, fmt.Errorf("notification from topic %q, want %s", m.TopicArn, TopicARN)
	}
	var n Notice
	if err := json.Unmarshal([]byte(m.Message), &n); err != nil {
		return t, fmt.Errorf("decode notice: %w", err)
	}
	t.url = n.URL
	if t.url == "" {
		t.url = RangesURL
	}
	if n.SyncToken != "" {
		tok, err := strconv.ParseInt(n.SyncToken, 10, 64)
		if err != nil || tok <= 0 {
			return t, fmt.Errorf("notice synctoken %q is not a Unix time", n.SyncToken)
		}
		t.syncToken = tok
	}
	if n.MD5 != "" {
		sum, err := hex.DecodeString(n.MD5)
		if err != nil || len(sum) != md5.Size {
			return t, fmt.Errorf("notice md5 %q is not an MD5 digest", n.MD5)
		}
		t.md5 = sum
	}
	return t, nil
}

// checkURL accepts only https://ip-ranges.amazonaws.com/… URLs.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("ranges URL: %w", err)
	}
	if u.Scheme != "https" || u.User != nil || !strings.EqualFold(u.Hostname(), RangesHost) || (u.Port() != "" && u.Port() != "443") {
		return nil, fmt.Errorf("ranges URL %q: only https://%s/ is fetched", raw, RangesHost)
	}
	return u, nil
}

// stored is what the bucket holds now.
type stored struct {
	exists    bool
	etag      string
	syncToken int64
}

// maxPutAttempts bounds retries after a concurrent writer changed the
// object between the check and the write.
const maxPutAttempts = 3

// update brings the bucket copy up to the newest publication: it fetches
// the document (unless the bucket already holds the announced syncToken),
// verifies it, and writes it if it is newer than the stored one, with a
// conditional write so that a concurrent, newer update is never
// overwritten.
func (h *handler) update(ctx context.Context, t trigger) error {
	u, err := checkURL(t.url)
	if err != nil {
		return err
	}
	cur, err := h.head(ctx)
	if err != nil {
		return err
	}
	if t.syncToken != 0 && cur.syncToken >= t.syncToken {
		h.log.InfoContext(ctx, "AWS ip ranges already stored", "trigger", t.source, "sync_token", cur.syncToken)
		return nil
	}
	doc, err := h.download(ctx, u)
	if err != nil {
		return err
	}
	if t.md5 != nil {
		if sum := md5.Sum(doc); !bytes.Equal(sum[:], t.md5) {
			return fmt.Errorf("md5 of the document %x, the notice announced %x", sum, t.md5)
		}
	}
	r, err := events.ReadIPRanges(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("parse the document: %w", err)
	}
	switch {
	case r.Len() < h.minPrefixes:
		return fmt.Errorf("the document lists %d prefixes, implausibly few (at least %d expected)", r.Len(), h.minPrefixes)
	case r.SyncToken() == 0:
		return fmt.Errorf("the document has no syncToken")
	case t.syncToken != 0 && r.SyncToken() < t.syncToken:
		return fmt.Errorf("the document's syncToken %d is older than the announced %d (a stale copy; retried later)", r.SyncToken(), t.syncToken)
	}
	body, err := gzipBytes(doc)
	if err != nil {
		return err
	}
	sum := md5.Sum(doc)
	for attempt := 1; ; attempt++ {
		if r.SyncToken() <= cur.syncToken {
			h.log.InfoContext(ctx, "AWS ip ranges not newer than the stored copy", "trigger", t.source,
				"sync_token", r.SyncToken(), "stored_sync_token", cur.syncToken)
			return nil
		}
		err := h.put(ctx, body, r, hex.EncodeToString(sum[:]), cur)
		if err == nil {
			h.log.InfoContext(ctx, "AWS ip ranges stored", "trigger", t.source, "bucket", h.bucket, "key", h.key,
				"prefixes", r.Len(), "sync_token", r.SyncToken(), "create_date", r.CreateDate(),
				"previous_sync_token", cur.syncToken, "bytes", len(body))
			return nil
		}
		if !isPreconditionFailed(err) || attempt == maxPutAttempts {
			return err
		}
		// Someone wrote meanwhile: look again.
		if cur, err = h.head(ctx); err != nil {
			return err
		}
	}
}

// head reads the stored copy's ETag and syncToken; a missing object is
// not an error. S3 answers 403 rather than 404 for a missing key to a
// caller without s3:ListBucket (this function has none), so 403 counts as
// missing too: the write that follows is then conditional on there being
// no object (If-None-Match: *), so it never overwrites one it could not
// see.
func (h *handler) head(ctx context.Context) (stored, error) {
	out, err := h.store.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(h.key)})
	var re *awshttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusNotFound || re.HTTPStatusCode() == http.StatusForbidden) {
		return stored{}, nil
	}
	if err != nil {
		return stored{}, fmt.Errorf("head s3://%s/%s: %w", h.bucket, h.key, err)
	}
	st := stored{exists: true, etag: aws.ToString(out.ETag)}
	// A value that does not parse counts as the oldest.
	st.syncToken, _ = strconv.ParseInt(out.Metadata["synctoken"], 10, 64)
	return st, nil
}

// put writes the gzip'd document if the object is still what head saw.
func (h *handler) put(ctx context.Context, body []byte, r *events.IPRanges, md5hex string, cur stored) error {
	in := &s3.PutObjectInput{
		Bucket:      aws.String(h.bucket),
		Key:         aws.String(h.key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String("application/gzip"),
		Metadata: map[string]string{
			"synctoken":   strconv.FormatInt(r.SyncToken(), 10),
			"create-date": r.CreateDate(),
			"md5":         md5hex,
		},
	}
	if cur.exists {
		in.IfMatch = aws.String(cur.etag)
	} else {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := h.store.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", h.bucket, h.key, err)
	}
	return nil
}

func isPreconditionFailed(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed || re.HTTPStatusCode() == http.StatusConflict)
}

// download fetches the document, refusing redirects, non-200 answers and
// anything over MaxDocumentBytes.
func (h *handler) download(ctx context.Context, u *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	resp, err := h.fetch.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: HTTP %d", u, resp.StatusCode)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	if len(doc) > MaxDocumentBytes {
		return nil, fmt.Errorf("fetch %s: larger than %d bytes", u, MaxDocumentBytes)
	}
	return doc, nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// deploy answers a CloudFormation custom resource request: on Create and
// Update it updates the stored copy (best effort), on Delete it does
// nothing (the bucket is retained). It always answers SUCCESS unless the
// request itself is malformed; it returns an error only when the answer
// could not be delivered.
func (h *handler) deploy(ctx context.Context, ev cfn.Event) error {
	resp := cfn.NewResponse(&ev)
	resp.PhysicalResourceID = physicalID
	resp.Status = cfn.StatusSuccess
	switch ev.RequestType {
	case cfn.RequestCreate, cfn.RequestUpdate:
		if err := h.update(ctx, trigger{source: "deploy", url: RangesURL}); err != nil {
			// The bundled ranges serve until the next notification or the
			// daily schedule.
			h.failed(ctx, "deploy", err)
			resp.Reason = "AWS ip ranges not updated now (the bundled ranges serve until the next update): " + truncate(err.Error(), 200)
		}
	case cfn.RequestDelete:
	default:
		resp.Status = cfn.StatusFailed
		resp.Reason = "unknown request type " + truncate(string(ev.RequestType), 40)
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode custom resource response: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, ev.ResponseURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("custom resource response: %w", err)
	}
	// The presigned URL is signed without a content type.
	req.Header.Del("Content-Type")
	req.ContentLength = int64(len(body))
	res, err := h.respond.Do(req)
	if err != nil {
		return fmt.Errorf("custom resource response: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("custom resource response: HTTP %d", res.StatusCode)
	}
	h.log.InfoContext(ctx, "custom resource answered", "request_type", ev.RequestType, "status", resp.Status)
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
