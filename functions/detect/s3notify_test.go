package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const encodedKeyObject = "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/10/05/111122223333_CloudTrail_us-east-1_20261005T0005Z_a b=c.json.gz"

// TestParseNotification reads the S3 event notification fixtures in
// testdata/s3: URL-encoded keys are decoded ("+" a space, %3D "="),
// several records per message each count, non-creation events are ignored,
// the test event is recognised, an SNS hop is unwrapped, and bodies that
// are not S3 notifications are refused.
func TestParseNotification(t *testing.T) {
	tests := []struct {
		file    string
		want    notification
		wantErr string
	}{
		{file: "put-encoded-key.json", want: notification{Objects: []trailObject{{
			Bucket: "org-trail", Key: encodedKeyObject, ETag: "d41d8cd98f00b204e9800998ecf8427e",
			VersionID: "096fKKXTRTtl3on89fVO.nfljtsv6qko", Size: 2048,
		}}}},
		{file: "sns-wrapped.json", want: notification{Objects: []trailObject{{
			Bucket: "org-trail", Key: encodedKeyObject, ETag: "d41d8cd98f00b204e9800998ecf8427e",
			VersionID: "096fKKXTRTtl3on89fVO.nfljtsv6qko", Size: 2048,
		}}}},
		{file: "two-records.json", want: notification{Ignored: 1, Objects: []trailObject{
			{Bucket: "org-trail", Key: "AWSLogs/444455556666/CloudTrail/eu-west-1/2026/10/05/444455556666_CloudTrail_eu-west-1_20261005T0010Z_x.json.gz", ETag: "e1", Size: 10},
			{Bucket: "org-trail", Key: "AWSLogs/444455556666/CloudTrail-Digest/eu-west-1/2026/10/05/444455556666_CloudTrail-Digest_eu-west-1_trail_eu-west-1_20261005T001000Z.json.gz", ETag: "e3", Size: 5},
		}}},
		{file: "test-event.json", want: notification{Test: true}},
		{file: "eventbridge-envelope.json", wantErr: "not an S3 event notification"},
		{file: "truncated.json", wantErr: "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "s3", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseNotification(string(body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestClassifyKey tells log files from digest and Insights files and from
// anything else in a trail bucket.
func TestClassifyKey(t *testing.T) {
	tests := []struct {
		key  string
		want objectKind
	}{
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2026/10/05/111122223333_CloudTrail_us-east-1_20261005T0005Z_abc.json.gz", kindLog},
		{"prefix/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/10/05/x.json.gz", kindLog},
		{"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/10/05/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261005T000512Z.json.gz", kindDigest},
		{"AWSLogs/o-abc123/111122223333/CloudTrail-Insight/us-east-1/2026/10/05/111122223333_CloudTrail-Insight_us-east-1_20261005T0005Z_abc.json.gz", kindInsight},
		{"AWSLogs/111122223333/Config/us-east-1/2026/10/05/config.json.gz", kindOther},
		{"AWSLogs/111122223333/CloudTrail/us-east-1/x_CloudTrail-Digest_y.json.gz", kindDigest},
	}
	for _, tt := range tests {
		if got := classifyKey(tt.key); got != tt.want {
			t.Errorf("classifyKey(%q) = %s, want %s", tt.key, got, tt.want)
		}
	}
}

// TestEnvIngest: INGEST=s3 needs TRAIL_BUCKET, which is refused without
// it; the default is EventBridge ingest.
func TestEnvIngest(t *testing.T) {
	tests := []struct {
		ingest, bucket string
		want           string // settings.trailBucket
		wantErr        string
	}{
		{"", "", "", ""},
		{"eventbridge", "", "", ""},
		{"s3", "org-trail", "org-trail", ""},
		{"s3", "", "", "TRAIL_BUCKET"},
		{"s3", "s3://org-trail", "", "TRAIL_BUCKET"},
		{"", "org-trail", "", "needs INGEST=s3"},
		{"kinesis", "", "", "INGEST"},
	}
	for _, tt := range tests {
		env := map[string]string{"TABLE_NAME": "trailwatch", "TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:findings",
			"INGEST": tt.ingest, "TRAIL_BUCKET": tt.bucket}
		s, err := readEnv(func(k string) string { return env[k] }).validate()
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("INGEST=%q TRAIL_BUCKET=%q: error %v, want %q", tt.ingest, tt.bucket, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("INGEST=%q TRAIL_BUCKET=%q: %v", tt.ingest, tt.bucket, err)
		case tt.wantErr == "" && s.trailBucket != tt.want:
			t.Errorf("INGEST=%q: trail bucket %q, want %q", tt.ingest, s.trailBucket, tt.want)
		}
	}
}
