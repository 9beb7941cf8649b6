package warmstart

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/detectors"
)

// TableAPI is what a backfill calls on the table besides the baseline
// store: the checkpoint item's reads and writes, and the scan of the
// newer-state check.
type TableAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// ID names a backfill by what determines its event sequence: the inputs,
// the range, the batch size and the reorder window.
func ID(paths []string, since, until time.Time, batch, window int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%d\n%d\n", strings.Join(paths, "\x00"), since.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano), batch, window)
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// Checkpoint items live in the baselines table beside the principals
// (pk "BACKFILL#<id>", sk "PROGRESS"); the detect function never reads
// them.
const (
	CheckpointPK = "BACKFILL#"
	CheckpointSK = "PROGRESS"
)

// checkpoint is a backfill's progress: the first Applied events of its
// sequence are in the table (every principal of them saved before the
// checkpoint was written).
type checkpoint struct {
	// Exists is set when the item was found: the backfill was started
	// before, whatever it applied.
	Exists   bool
	Applied  int64
	LastID   string
	LastTime time.Time
	Done     bool
	// Since and Until are the range (for the newer-state check of other
	// backfills); Account the account it is scoped to, if any.
	Since, Until time.Time
	Account      string
}

// progress reads and writes one backfill's checkpoint.
type progress struct {
	client       TableAPI
	table, id    string
	account      string
	since, until time.Time
	rcu, wcu     float64
}

func (r *progress) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: CheckpointPK + r.id},
		"sk": &types.AttributeValueMemberS{Value: CheckpointSK},
	}
}

func (r *progress) load(ctx context.Context) (checkpoint, error) {
	out, err := r.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(r.table), Key: r.key(), ConsistentRead: aws.Bool(true),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return checkpoint{}, fmt.Errorf("read backfill progress: %w", err)
	}
	if out.ConsumedCapacity != nil {
		r.rcu += aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	return decodeCheckpoint(out.Item)
}

func decodeCheckpoint(it map[string]types.AttributeValue) (checkpoint, error) {
	var c checkpoint
	if it == nil {
		return c, nil
	}
	s := func(k string) string {
		if v, ok := it[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	n := func(k string) int64 {
		if v, ok := it[k].(*types.AttributeValueMemberN); ok {
			x, _ := strconv.ParseInt(v.Value, 10, 64)
			return x
		}
		return 0
	}
	c.Exists = true
	c.Applied, c.LastID, c.Done, c.Account = n("applied"), s("last_id"), s("done") == "true", s("account")
	if t := n("last_time"); t != 0 {
		c.LastTime = time.Unix(t, 0).UTC()
	}
	if t := n("since"); t != 0 {
		c.Since = time.Unix(t, 0).UTC()
	}
	if t := n("until"); t != 0 {
		c.Until = time.Unix(t, 0).UTC()
	}
	if c.Applied < 0 {
		return c, fmt.Errorf("backfill progress item: applied %d", c.Applied)
	}
	return c, nil
}

// save writes the checkpoint after the principals of its events were saved.
func (r *progress) save(ctx context.Context, c checkpoint) error {
	it := r.key()
	it["applied"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Applied, 10)}
	it["last_id"] = &types.AttributeValueMemberS{Value: c.LastID}
	it["last_time"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.LastTime.Unix(), 10)}
	it["done"] = &types.AttributeValueMemberS{Value: strconv.FormatBool(c.Done)}
	it["since"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.since.Unix(), 10)}
	it["until"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.until.Unix(), 10)}
	if r.account != "" {
		it["account"] = &types.AttributeValueMemberS{Value: r.account}
	}
	out, err := r.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(r.table), Item: it, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return fmt.Errorf("save backfill progress: %w", err)
	}
	if out.ConsumedCapacity != nil {
		r.wcu += aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	return nil
}

// NewerStateError is a backfill's one-line refusal of a table holding
// state newer than its range.
type NewerStateError struct {
	// Reason says which state is newer.
	Reason string
	// Hint ends the message: what the caller can do about it.
	Hint string
}

func (e *NewerStateError) Error() string {
	msg := "table holds newer state: " + e.Reason
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// checkNewer refuses a table whose state is newer than the range: a
// principal last seen at or after until, one seen at or after since when
// this is a fresh run (its events would be counted twice, or applied out of
// order), or another backfill reaching past until. Scoped to an account,
// it looks only at that account's principals and at the backfills of that
// account or of none (a whole-archive backfill).
func (r *progress) checkNewer(ctx context.Context, store detectors.Store, resumed bool, hint string) error {
	since, until := r.since, r.until
	var start map[string]types.AttributeValue
	var keys []string
	check := func() error {
		if len(keys) == 0 {
			return nil
		}
		states, err := store.Load(ctx, keys)
		if err != nil {
			return fmt.Errorf("read baselines: %w", err)
		}
		keys = keys[:0]
		for k, st := range states {
			if st == nil || st.Baseline == nil {
				continue
			}
			last := time.Unix(st.Baseline.LastSeen, 0).UTC()
			switch {
			case !last.Before(until):
				return &NewerStateError{fmt.Sprintf("principal %s was last seen %s, after --until %s", k, last.Format(time.RFC3339), until.Format(time.RFC3339)), hint}
			case !resumed && !last.Before(since):
				return &NewerStateError{fmt.Sprintf("principal %s was last seen %s, within the range (from --since %s): its events would be counted twice", k, last.Format(time.RFC3339), since.Format(time.RFC3339)), hint}
			}
		}
		return nil
	}
	for {
		page, err := r.client.Scan(ctx, &dynamodb.ScanInput{
			TableName: aws.String(r.table), ExclusiveStartKey: start,
			ProjectionExpression:     aws.String("pk, sk, #u, done, account"),
			ExpressionAttributeNames: map[string]string{"#u": "until"},
			ReturnConsumedCapacity:   types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return fmt.Errorf("scan table %s: %w", r.table, err)
		}
		if page.ConsumedCapacity != nil {
			r.rcu += aws.ToFloat64(page.ConsumedCapacity.CapacityUnits)
		}
		for _, it := range page.Items {
			pk, _ := it["pk"].(*types.AttributeValueMemberS)
			sk, _ := it["sk"].(*types.AttributeValueMemberS)
			if pk == nil || sk == nil {
				continue
			}
			if id, ok := strings.CutPrefix(pk.Value, CheckpointPK); ok && id != r.id {
				c, err := decodeCheckpoint(it)
				if err == nil && r.concerns(c.Account) && c.Until.After(until) {
					return &NewerStateError{fmt.Sprintf("another backfill reaches %s, after --until %s", c.Until.Format(time.RFC3339), until.Format(time.RFC3339)), hint}
				}
				continue
			}
			if k, ok := strings.CutPrefix(pk.Value, "P#"); ok && sk.Value == "HOT" && r.owns(k) {
				keys = append(keys, k)
				if len(keys) == 100 {
					if err := check(); err != nil {
						return err
					}
				}
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	return check()
}

// owns reports whether a principal key is within the backfill's scope.
func (r *progress) owns(principal string) bool {
	return r.account == "" || OwnedBy(principal, r.account)
}

// concerns reports whether another backfill, scoped to account (empty:
// the whole archive), can hold state of this one's principals.
func (r *progress) concerns(account string) bool {
	return r.account == "" || account == "" || account == r.account
}

// OwnedBy reports whether a principal's baseline key belongs to account:
// keys start with the principal's account ID ("111122223333:role/…").
func OwnedBy(principal, account string) bool {
	rest, ok := strings.CutPrefix(principal, account)
	return ok && strings.HasPrefix(rest, ":")
}
