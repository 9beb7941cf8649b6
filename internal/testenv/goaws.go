package testenv

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
)

// GoawsRegion and GoawsAccountID are the region and account of the topics
// and queues goaws creates.
const (
	GoawsRegion    = "us-east-1"
	GoawsAccountID = "000000000000"
)

// goawsMu serializes goaws servers: goaws keeps its configuration, topics
// and queues in package globals, so only one server can run at a time in a
// test binary. A test holds it from Goaws until its cleanup.
var goawsMu sync.Mutex

// Goaws starts goaws (SNS and SQS query API) in-process on a loopback port
// with a generated configuration, and returns its endpoint URL
// ("http://127.0.0.1:PORT") for an SDK client's BaseEndpoint. The server
// stops when the test ends.
//
// goaws state is global to the process: tests using Goaws run one at a time
// (a second caller waits for the first test to finish), so do not call it
// twice from one test, and give topics names unique to the test. Note that
// goaws v0.4.5 applies subscription filter policies to SQS subscriptions
// only, not to HTTP ones.
func Goaws(t testing.TB) string {
	t.Helper()
	goawsMu.Lock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		goawsMu.Unlock()
		t.Fatalf("goaws: listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port

	cfg := fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Port: %d
  Region: %s
  AccountId: "%s"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
    MaximumMessageSize: 262144
`, port, GoawsRegion, GoawsAccountID)
	path := filepath.Join(t.TempDir(), "goaws.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		ln.Close()
		goawsMu.Unlock()
		t.Fatalf("goaws: write config: %v", err)
	}
	logrus.SetLevel(logrus.WarnLevel) // goaws logs every request at info
	conf.LoadYamlConfig(path, "Local")

	srv := &http.Server{Handler: router.New(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
		goawsMu.Unlock()
	})
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// SQSResult is what GoawsSQS reads from goaws's SQS answers.
type SQSResult struct {
	QueueURL string `xml:"CreateQueueResult>QueueUrl"`
	Messages []struct {
		MessageID string `xml:"MessageId"`
		Body      string `xml:"Body"`
	} `xml:"ReceiveMessageResult>Message"`
}

// GoawsSQS calls goaws's SQS query (form) API, which it implements fully,
// unlike the JSON protocol of current SDKs.
func GoawsSQS(t testing.TB, endpoint string, form url.Values) SQSResult {
	t.Helper()
	resp, err := http.Post(endpoint+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("SQS %s: %v", form.Get("Action"), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SQS %s: HTTP %d: %s", form.Get("Action"), resp.StatusCode, b)
	}
	var r SQSResult
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("SQS %s: %v\n%s", form.Get("Action"), err, b)
	}
	return r
}
