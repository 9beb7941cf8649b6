package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// cursor is how far into an object's events (in processing order: event
// time, then event ID) detection got: every event up to and including
// (Time, ID) is applied. Done means the whole object was.
type cursor struct {
	Time time.Time
	ID   string
	Done bool
}

// after reports whether an event at (t, id) comes after the cursor, so is
// still to be applied.
func (c cursor) after(t time.Time, id string) bool {
	if c.Done {
		return false
	}
	if c.Time.IsZero() && c.ID == "" {
		return true
	}
	if !t.Equal(c.Time) {
		return t.After(c.Time)
	}
	return id > c.ID
}

// objectProgress remembers, per trail object, how far its processing got,
// so a redelivered object resumes where it stopped instead of applying
// events again that its principals' baselines no longer remember (a
// baseline recognises only its latest detectors.RecentEventIDs event IDs).
type objectProgress interface {
	Get(ctx context.Context, o trailObject) (cursor, error)
	Put(ctx context.Context, o trailObject, c cursor) error
}

// progressAPI is the part of the DynamoDB client the progress store calls
// (the detect function's grants already include both).
type progressAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// dynamoProgress keeps object progress in the Trailwatch table, beside the
// baselines:
//
//	pk = "OBJ#<bucket>/<key>", sk = "E#<etag>"  (the object's version)
//	cursor_time (N, Unix nanoseconds), cursor_id (S), done (BOOL),
//	expires_at (N): written + progressRetention, as SQS keeps a message at
//	most 14 days.
type dynamoProgress struct {
	client progressAPI
	table  string
	now    func() time.Time
}

// progressRetention is how long an object's progress is kept: longer than
// SQS keeps a message (14 days at most), so no redelivery outlives it.
const progressRetention = 15 * 24 * time.Hour

var _ objectProgress = (*dynamoProgress)(nil)

func progressKey(o trailObject) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "OBJ#" + o.Bucket + "/" + o.Key},
		"sk": &types.AttributeValueMemberS{Value: "E#" + o.ETag},
	}
}

// Get returns the object's progress; none yet is the zero cursor.
func (p *dynamoProgress) Get(ctx context.Context, o trailObject) (cursor, error) {
	out, err := p.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(p.table), Key: progressKey(o), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return cursor{}, fmt.Errorf("read progress of s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	var c cursor
	if v, ok := out.Item["done"].(*types.AttributeValueMemberBOOL); ok {
		c.Done = v.Value
	}
	if v, ok := out.Item["cursor_time"].(*types.AttributeValueMemberN); ok {
		if ns, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			c.Time = time.Unix(0, ns).UTC()
		}
	}
	if v, ok := out.Item["cursor_id"].(*types.AttributeValueMemberS); ok {
		c.ID = v.Value
	}
	return c, nil
}

// Put records the object's progress.
func (p *dynamoProgress) Put(ctx context.Context, o trailObject, c cursor) error {
	item := progressKey(o)
	item["done"] = &types.AttributeValueMemberBOOL{Value: c.Done}
	item["cursor_time"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Time.UnixNano(), 10)}
	item["cursor_id"] = &types.AttributeValueMemberS{Value: c.ID}
	item["expires_at"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(p.now().Add(progressRetention).Unix(), 10)}
	if _, err := p.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(p.table), Item: item}); err != nil {
		return fmt.Errorf("record progress of s3://%s/%s: %w", o.Bucket, o.Key, err)
	}
	return nil
}
