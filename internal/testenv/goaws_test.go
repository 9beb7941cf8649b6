package testenv

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func TestGoaws(t *testing.T) {
	endpoint := Goaws(t)
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not on loopback", endpoint)
	}
	resp, err := http.Get(endpoint + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "OK" {
		t.Fatalf("health: %d %q", resp.StatusCode, b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := sns.New(sns.Options{BaseEndpoint: aws.String(endpoint), Region: GoawsRegion,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
	out, err := client.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("testenv-topic")})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if want := "arn:aws:sns:" + GoawsRegion + ":" + GoawsAccountID + ":testenv-topic"; aws.ToString(out.TopicArn) != want {
		t.Errorf("topic ARN = %q, want %q", aws.ToString(out.TopicArn), want)
	}
	if _, err := client.Publish(ctx, &sns.PublishInput{TopicArn: out.TopicArn, Message: aws.String("hi")}); err != nil {
		t.Errorf("Publish: %v", err)
	}
}

// TestGoawsSequential checks that a second test gets a fresh, working server
// after the first one's cleanup.
func TestGoawsSequential(t *testing.T) {
	var first string
	t.Run("first", func(t *testing.T) { first = Goaws(t) })
	t.Run("second", func(t *testing.T) {
		second := Goaws(t)
		if second == first {
			t.Errorf("same endpoint reused: %s", second)
		}
		if _, err := http.Get(first + "/health"); err == nil {
			t.Errorf("first server still answering after its test ended")
		}
		if resp, err := http.Get(second + "/health"); err != nil || resp.StatusCode != 200 {
			t.Errorf("second server: %v", err)
		}
	})
}
