// Command ipranges is the Lambda function that keeps a copy of AWS's
// published address ranges (ip-ranges.json) current in an S3 bucket, from
// which the detect function refreshes the ranges it classifies source
// addresses with. It runs when AWS announces a new file on its public SNS
// topic AmazonIpSpaceChanged (us-east-1), once a day on a schedule, and at
// each deployment (a CloudFormation custom resource).
//
// It fetches only https://ip-ranges.amazonaws.com/ (no redirects, at most
// MaxDocumentBytes), checks the MD5 the notification announces, parses the
// document with the same code detect uses, refuses a list of fewer than
// MinPrefixes prefixes or one older than the announced or the stored
// syncToken, and writes it gzip'd with a conditional write (If-Match on the
// stored ETag), so a concurrent newer copy is never overwritten. The object
// carries the metadata synctoken, create-date and md5.
//
// Environment:
//
//	IP_RANGES_BUCKET   the bucket holding the copy (required)
//	IP_RANGES_KEY      its object key (required)
//	LOG_LEVEL          DEBUG | INFO | WARN | ERROR (default INFO)
//
// AWS_ENDPOINT_URL_S3, honoured by the AWS SDK, points S3 at a local server
// in tests (the client then uses path-style addressing).
//
// # Metrics
//
// CloudWatch Embedded Metric Format, namespace Trailwatch:
// IPRangesUpdateFailures (no dimensions), one per failed update.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/internal/emf"
	"github.com/trailwatch/trailwatch/internal/lambdaenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ipranges:", err)
		os.Exit(1)
	}
}

// env is the raw environment, read once.
type env struct {
	Bucket     string `env:"IP_RANGES_BUCKET"`
	Key        string `env:"IP_RANGES_KEY"`
	S3Endpoint string `env:"AWS_ENDPOINT_URL_S3"`
	LogLevel   string `env:"LOG_LEVEL"`
}

// settings is the validated configuration.
type settings struct {
	bucket, key string
	pathStyle   bool
	logLevel    slog.Level
}

func (e env) validate() (settings, error) {
	s := settings{bucket: e.Bucket, key: e.Key, pathStyle: e.S3Endpoint != ""}
	if n := len(s.bucket); n < 3 || n > 63 {
		return s, fmt.Errorf("IP_RANGES_BUCKET: want an S3 bucket name, got %q", e.Bucket)
	}
	if s.key == "" || len(s.key) > 1024 {
		return s, fmt.Errorf("IP_RANGES_KEY: want an object key, got %q", e.Key)
	}
	if e.LogLevel != "" {
		if err := s.logLevel.UnmarshalText([]byte(e.LogLevel)); err != nil {
			return s, fmt.Errorf("LOG_LEVEL: %w", err)
		}
	}
	return s, nil
}

// newFetchClient returns the client that downloads the ranges: bounded in
// time, and following no redirect (the URL is checked, its target would
// not be).
func newFetchClient() *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func run() error {
	var e env
	lambdaenv.Read(&e, os.Getenv)
	s, err := e.validate()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := lambdaenv.Logger(os.Stdout, s.logLevel)
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	h := &handler{
		store:       s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = s.pathStyle }),
		bucket:      s.bucket,
		key:         s.key,
		fetch:       newFetchClient(),
		respond:     &http.Client{Timeout: 30 * time.Second},
		minPrefixes: MinPrefixes,
		log:         log,
		metrics:     &emf.Writer{W: os.Stdout},
	}
	log.Info("ipranges starting", "bucket", s.bucket, "key", s.key)
	lambda.Start(h.Handle)
	return nil
}
