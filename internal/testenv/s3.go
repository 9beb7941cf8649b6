package testenv

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Server is an S3 API (gofakes3 over an in-memory backend) served
// in-process on a loopback port.
type S3Server struct {
	// URL is the endpoint ("http://127.0.0.1:PORT") for an SDK client's
	// BaseEndpoint or AWS_ENDPOINT_URL_S3; clients must use path-style
	// addressing.
	URL string
	// Down makes every request fail with 503 while set (fault injection).
	Down atomic.Bool
	// HideMissing answers 403 AccessDenied instead of 404 for a missing
	// key while set, as S3 does to a caller without s3:ListBucket (the
	// Trailwatch functions have none).
	HideMissing atomic.Bool

	requests [8]atomic.Int64 // by method, in the order of s3Methods
}

var s3Methods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete}

// Requests returns how many requests with method the server received.
func (s *S3Server) Requests(method string) int64 {
	for i, m := range s3Methods {
		if m == method {
			return s.requests[i].Load()
		}
	}
	return 0
}

// S3 starts an S3 server with the given buckets (versioned, as Trailwatch's
// buckets are) and stops it when the test ends.
func S3(t testing.TB, buckets ...string) *S3Server {
	t.Helper()
	backend := s3mem.New()
	faker := gofakes3.New(backend, gofakes3.WithAutoBucket(false))
	s := &S3Server{}
	api := faker.Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i, m := range s3Methods {
			if m == r.Method {
				s.requests[i].Add(1)
			}
		}
		if s.Down.Load() {
			http.Error(w, "<Error><Code>ServiceUnavailable</Code><Message>down for the test</Message></Error>", http.StatusServiceUnavailable)
			return
		}
		if !s.HideMissing.Load() {
			api.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, r)
		if rec.Code == http.StatusNotFound {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			if r.Method != http.MethodHead {
				io.WriteString(w, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
			}
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	c := S3Client(s.URL)
	for _, b := range buckets {
		if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("s3: create bucket %s: %v", b, err)
		}
		if _, err := c.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
			Bucket: aws.String(b), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		}); err != nil {
			t.Fatalf("s3: enable versioning on %s: %v", b, err)
		}
	}
	return s
}

// S3Client returns an S3 client for a local endpoint: path-style
// addressing, static test credentials, region us-east-1.
func S3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		UsePathStyle: true,
	})
}
