package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Item layout in the Trailwatch table: partition PartitionKey, sort key
// "<account>#<region>", attribute last (Unix seconds of the latest event).
const (
	PartitionKey = "HB#heartbeat"
	attrPK       = "pk"
	attrSK       = "sk"
	attrLast     = "last"
)

// Source is one account and region and when it last sent an event.
type Source struct {
	Account string
	Region  string
	Last    time.Time
}

// Silent returns the sources whose latest event is older than after at
// now, oldest first. Sources never seen are not in the list, so they never
// count as silent.
func Silent(sources []Source, now time.Time, after time.Duration) []Source {
	var out []Source
	for _, s := range sources {
		if now.Sub(s.Last) > after {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Last.Equal(out[j].Last) {
			return out[i].Last.Before(out[j].Last)
		}
		return out[i].Account+out[i].Region < out[j].Account+out[j].Region
	})
	return out
}

// DynamoDBAPI is the part of the DynamoDB client Store calls.
type DynamoDBAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store keeps the heartbeats in the Trailwatch table.
type Store struct {
	Client DynamoDBAPI
	Table  string
}

// Record moves the source's heartbeat forward to t (whole seconds). An
// older or equal t changes nothing, so redelivered events write nothing.
func (s *Store) Record(ctx context.Context, account, region string, t time.Time) error {
	_, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table),
		Key: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: PartitionKey},
			attrSK: &types.AttributeValueMemberS{Value: account + "#" + region},
		},
		UpdateExpression:          aws.String("SET #l = :t"),
		ConditionExpression:       aws.String("attribute_not_exists(#l) OR #l < :t"),
		ExpressionAttributeNames:  map[string]string{"#l": attrLast},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record heartbeat %s/%s: %w", account, region, err)
	}
	return nil
}

// List returns every recorded source.
func (s *Store) List(ctx context.Context) ([]Source, error) {
	var out []Source
	var start map[string]types.AttributeValue
	for {
		page, err := s.Client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.Table),
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: PartitionKey}},
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("list heartbeats: %w", err)
		}
		for _, it := range page.Items {
			sk, _ := it[attrSK].(*types.AttributeValueMemberS)
			last, _ := it[attrLast].(*types.AttributeValueMemberN)
			if sk == nil || last == nil {
				continue
			}
			account, region, ok := strings.Cut(sk.Value, "#")
			secs, err := strconv.ParseInt(last.Value, 10, 64)
			if !ok || err != nil {
				continue
			}
			out = append(out, Source{Account: account, Region: region, Last: time.Unix(secs, 0).UTC()})
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// recordAPI is what Recorder writes through (Store).
type recordAPI interface {
	Record(ctx context.Context, account, region string, t time.Time) error
}

// DefaultEvery is how often a process writes one source's heartbeat.
const DefaultEvery = 5 * time.Minute

// Recorder writes the heartbeats of the events a process sees, each source
// at most once per Every; it is safe for concurrent use.
type Recorder struct {
	Store recordAPI
	// Every is the least time between two writes of one source; zero
	// means DefaultEvery.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	written map[string]time.Time // source → wall time of the last write
}

// Observe records that events of account and region arrived, the latest
// dated latest (clamped to the clock: a forged future date cannot hide a
// later silence). It writes only when the source's last write is older
// than Every; a failed write is returned and retried at the next call.
func (r *Recorder) Observe(ctx context.Context, account, region string, latest time.Time) error {
	if account == "" || region == "" {
		return nil
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	every := r.Every
	if every <= 0 {
		every = DefaultEvery
	}
	key := account + "#" + region
	r.mu.Lock()
	if w, ok := r.written[key]; ok && now.Sub(w) < every {
		r.mu.Unlock()
		return nil
	}
	if r.written == nil {
		r.written = map[string]time.Time{}
	}
	r.written[key] = now
	r.mu.Unlock()
	if latest.After(now) {
		latest = now
	}
	if err := r.Store.Record(ctx, account, region, latest); err != nil {
		r.mu.Lock()
		delete(r.written, key)
		r.mu.Unlock()
		return err
	}
	return nil
}

// listAPI is what Checker reads through (Store).
type listAPI interface {
	List(ctx context.Context) ([]Source, error)
}

// DefaultCheckEvery is how often a process checks the heartbeats.
const DefaultCheckEvery = 10 * time.Minute

// Report is the outcome of one check.
type Report struct {
	// Watched is the number of sources with a heartbeat.
	Watched int
	// Silent are the sources silent longer than the limit, oldest first.
	Silent []Source
}

// Checker lists the heartbeats at most once per Every and reports the
// silent sources; it is safe for concurrent use.
type Checker struct {
	Store listAPI
	// After is the silence that makes a source silent.
	After time.Duration
	// Every is the least time between two checks; zero means
	// DefaultCheckEvery.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	checked time.Time
}

// Check lists the heartbeats and returns the report, or ok false when the
// last check is more recent than Every (nothing is read). A failed listing
// is returned, and the next call tries again.
func (c *Checker) Check(ctx context.Context) (r Report, ok bool, err error) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	every := c.Every
	if every <= 0 {
		every = DefaultCheckEvery
	}
	c.mu.Lock()
	if !c.checked.IsZero() && now.Sub(c.checked) < every {
		c.mu.Unlock()
		return r, false, nil
	}
	prev := c.checked
	c.checked = now
	c.mu.Unlock()
	all, err := c.Store.List(ctx)
	if err != nil {
		c.mu.Lock()
		c.checked = prev
		c.mu.Unlock()
		return r, false, err
	}
	return Report{Watched: len(all), Silent: Silent(all, now, c.After)}, true, nil
}
