//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/internal/lambdatest"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// slowDynamo is a proxy in front of dynalite that, while slow is set,
// holds every PutItem for delay: DynamoDB throttling absorbed by SDK
// retries looks like this to the function.
func slowDynamo(t *testing.T, target string, delay time.Duration) (string, *atomic.Bool) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var slow atomic.Bool
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() && strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutItem") {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &slow
}

// userRecord is a mutating CloudTrail call by IAM user name.
func userRecord(name string, i int, at time.Time) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"eventVersion": "1.08",
		"userIdentity": map[string]any{"type": "IAMUser", "principalId": "AIDA" + strings.ToUpper(name), "accountId": "111122223333",
			"arn": "arn:aws:iam::111122223333:user/" + name, "userName": name, "accessKeyId": "AKIA" + strings.ToUpper(name)},
		"eventTime": at.Format(time.RFC3339), "eventSource": "s3.amazonaws.com", "eventName": "PutObject",
		"awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0",
		"requestParameters": map[string]any{"bucketName": "b", "key": fmt.Sprint(i)}, "readOnly": false,
		"eventID": fmt.Sprintf("%s-%d", name, i), "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
	})
	return b
}

// TestDetectDeadline: with DynamoDB slow, an invocation returns before its
// deadline with the principals it could not start as batch item failures;
// SQS then redelivers (here, in the worst case, the whole batch), and
// nothing already saved is applied twice.
func TestDetectDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built function; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	det := loadDeployed(t)["detect"]
	ddbEndpoint := testenv.Dynalite(t)
	ddb := baselines.NewDynamoDBClient(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, ddbEndpoint)
	const tbl = "trailwatch-deadline"
	if err := baselines.CreateTable(ctx, ddb, tbl); err != nil {
		t.Fatal(err)
	}
	proxy, slow := slowDynamo(t, ddbEndpoint, 1500*time.Millisecond)
	ssmSrv, _ := ssmServer(t, string(config.DefaultYAML))
	env := deployedEnv(t, det, map[string]string{
		"TABLE_NAME": tbl, "TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:unused", "CONFIG_PARAMETER": paramName,
	}, "IP_RANGES_BUCKET", "IP_RANGES_KEY")
	delete(env, "IP_RANGES_KEY")
	bootstrap := testenv.BuildFunction(t, "github.com/trailwatch/trailwatch/functions/detect")
	layoutAsset(t, bootstrap, env, "../../events/testdata/ip-ranges-small.json")
	env["AWS_ENDPOINT_URL_DYNAMODB"] = proxy
	env["AWS_ENDPOINT_URL_SSM"] = ssmSrv.URL
	const timeout = 9 // seconds: 7 usable after the 2 s margin, principals start while 5 s remain
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = fmt.Sprint(timeout)
	detect := testenv.RIE(t, bootstrap, env)

	const users, each = 10, 3
	var recs []json.RawMessage
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i := range each {
		for u := range users {
			recs = append(recs, userRecord(fmt.Sprintf("u%d", u), i, t0.Add(time.Duration(i*users+u)*time.Second)))
		}
	}
	batch := lambdatest.SQSBatches("dl", recs, len(recs), "trailwatch-ingest")[0]
	msgOf := map[string]string{}
	for i, m := range batch.Records {
		var r struct{ EventID string }
		json.Unmarshal(recs[i], &r)
		msgOf[m.MessageId] = strings.SplitN(r.EventID, "-", 2)[0]
	}

	slow.Store(true)
	start := time.Now()
	resp := invokeSQS(t, detect, batch)
	took := time.Since(start)
	deferred := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		deferred[msgOf[f.ItemIdentifier]] = true
	}
	t.Logf("slow table: returned after %v with %d of %d messages failed (%d of %d users deferred)", took.Round(time.Millisecond),
		len(resp.BatchItemFailures), len(batch.Records), len(deferred), users)
	if took >= timeout*time.Second {
		t.Fatalf("the invocation ran into its %ds timeout", timeout)
	}
	if len(deferred) == 0 || len(deferred) == users {
		t.Fatalf("%d of %d users deferred, want some but not all", len(deferred), users)
	}
	if len(resp.BatchItemFailures) != len(deferred)*each {
		t.Errorf("%d messages failed for %d deferred users of %d events each", len(resp.BatchItemFailures), len(deferred), each)
	}
	// The function's output reaches the emulator's log a moment after its
	// response: wait for the metric line.
	logs := testenv.WaitRIELogs(detect, 5*time.Second, `"EventsDeferred"`)
	if !strings.Contains(logs, `"EventsDeferred"`) || strings.Contains(logs, "Task timed out") {
		t.Errorf("detect output lacks the EventsDeferred metric, or timed out:\n%s", tail(logs, 20))
	}

	// The worst redelivery: the whole batch again, the table fast again.
	slow.Store(false)
	if resp := invokeSQS(t, detect, batch); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: failures %v", resp.BatchItemFailures)
	}
	store := baselines.NewDynamoDB(ddb, tbl, nil)
	keys := make([]string, users)
	for u := range users {
		keys[u] = fmt.Sprintf("111122223333:user/u%d", u)
	}
	states, err := store.Load(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		st := states[k]
		if st == nil || st.Baseline.Events != each {
			var n any = "no state"
			if st != nil {
				n = st.Baseline.Events
			}
			t.Errorf("%s: %v events counted, want %d", k, n, each)
		}
	}
}
