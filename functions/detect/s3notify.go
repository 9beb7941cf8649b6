package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// trailObject is one object a notification announces.
type trailObject struct {
	Bucket string
	// Key is the decoded object key (notifications URL-encode it).
	Key       string
	ETag      string
	VersionID string
	Size      int64
}

// notification is what one SQS message of the trail queue says: the
// objects created, or that it is S3's test event.
type notification struct {
	Objects []trailObject
	// Test marks s3:TestEvent, which S3 sends when the notification is
	// configured: acknowledged, nothing to read.
	Test bool
	// Ignored counts records that announce no new object (another event
	// type, such as a deletion).
	Ignored int
}

// s3Event is the S3 event notification message (event message structure
// version 2.x), and S3's test message.
type s3Event struct {
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key       string `json:"key"`
				Size      int64  `json:"size"`
				ETag      string `json:"eTag"`
				VersionID string `json:"versionId"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	// Event is "s3:TestEvent" in the test message.
	Event string `json:"Event"`
	// Type and Message are set when the notification went through SNS
	// (a bucket notifying a topic the queue subscribes to, without raw
	// message delivery).
	Type    string `json:"Type"`
	Message string `json:"Message"`
}

// parseNotification reads one SQS message body of the trail queue. An
// error means the body is not an S3 notification at all: the message can
// never be processed.
func parseNotification(body string) (notification, error) {
	var n notification
	var ev s3Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return n, fmt.Errorf("not JSON: %w", err)
	}
	if ev.Type == "Notification" && ev.Message != "" {
		// One SNS hop: the S3 message is the notification's Message.
		msg := ev.Message
		ev = s3Event{}
		if err := json.Unmarshal([]byte(msg), &ev); err != nil {
			return n, fmt.Errorf("SNS message is not JSON: %w", err)
		}
	}
	if ev.Event == "s3:TestEvent" {
		n.Test = true
		return n, nil
	}
	if ev.Records == nil {
		return n, fmt.Errorf("no Records: not an S3 event notification")
	}
	for i, r := range ev.Records {
		if r.EventSource != "aws:s3" || r.S3.Bucket.Name == "" || r.S3.Object.Key == "" {
			return n, fmt.Errorf("record %d: not an S3 object event", i)
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			n.Ignored++
			continue
		}
		// Keys are URL-encoded as in an HTML form: "+" is a space.
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return n, fmt.Errorf("record %d: object key %q: %w", i, r.S3.Object.Key, err)
		}
		n.Objects = append(n.Objects, trailObject{
			Bucket: r.S3.Bucket.Name, Key: key, ETag: r.S3.Object.ETag,
			VersionID: r.S3.Object.VersionID, Size: r.S3.Object.Size,
		})
	}
	return n, nil
}

// objectKind says what a trail bucket object is, from its key: CloudTrail
// writes its log files under AWSLogs/[o-…/]<account>/CloudTrail/<region>/,
// and beside them digest files (CloudTrail-Digest) and Insights events
// (CloudTrail-Insight), which hold no API calls.
type objectKind string

const (
	kindLog     objectKind = "log"
	kindDigest  objectKind = "digest"
	kindInsight objectKind = "insight"
	kindOther   objectKind = "other"
)

// classifyKey tells a CloudTrail log file from the other objects of a
// trail bucket.
func classifyKey(key string) objectKind {
	segs := strings.Split(key, "/")
	for _, s := range segs {
		switch s {
		case "CloudTrail-Digest":
			return kindDigest
		case "CloudTrail-Insight":
			return kindInsight
		}
	}
	if len(segs) > 0 {
		name := segs[len(segs)-1]
		if strings.Contains(name, "_CloudTrail-Digest_") {
			return kindDigest
		}
		if strings.Contains(name, "_CloudTrail-Insight_") {
			return kindInsight
		}
	}
	for _, s := range segs {
		if s == "CloudTrail" {
			return kindLog
		}
	}
	return kindOther
}
