//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// localStack is what the deployed detect function reaches, run locally for
// the emulator tests: a dynalite table and a goaws topic whose
// publications an HTTP subscription captures.
type localStack struct {
	ddbEndpoint, snsEndpoint string
	topicARN                 string
	capture                  *findingsCapture
}

// newLocalStack starts dynalite with table and goaws with a topic named
// after name, subscribed by a capture; everything stops with the test.
func newLocalStack(ctx context.Context, t *testing.T, table, name string) *localStack {
	t.Helper()
	s := &localStack{ddbEndpoint: testenv.Dynalite(t)}
	ddb := baselines.NewDynamoDBClient(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, s.ddbEndpoint)
	if err := baselines.CreateTable(ctx, ddb, table); err != nil {
		t.Fatal(err)
	}
	s.snsEndpoint = testenv.Goaws(t)
	snsClient := sns.New(sns.Options{
		BaseEndpoint: aws.String(s.snsEndpoint), Region: testenv.GoawsRegion,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	topic, err := snsClient.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))})
	if err != nil {
		t.Fatal(err)
	}
	s.topicARN = *topic.TopicArn
	s.capture = &findingsCapture{t: t}
	hook := httptest.NewServer(s.capture)
	t.Cleanup(hook.Close)
	if _, err := snsClient.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(hook.URL)}); err != nil {
		t.Fatal(err)
	}
	return s
}
