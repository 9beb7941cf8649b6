package baselines

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/detectors"
)

// DynamoDBAPI is the part of the DynamoDB client the store calls.
type DynamoDBAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// TableAPI is the part of the DynamoDB client CreateTable calls.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Item layout; see the package documentation.
const (
	attrPK      = "pk"
	attrSK      = "sk"
	attrVersion = "version"
	attrExpires = "expires_at"
	attrHot     = "hot"
	attrCold    = "cold"
	attrCases   = "cases"
	attrColdRef = "cold_ref"
	attrCaseRef = "cases_ref"
	attrData    = "data"
	attrWriter  = "writer"

	skHot = "HOT"

	// inlineLimit bounds the encoded parts kept in the HOT item: below
	// it the item reads with one read unit (4 KB) and usually writes
	// with one or two write units.
	inlineLimit = 3500
	// compactLimit is where a part is compacted, well below DynamoDB's
	// 400 KB item limit.
	compactLimit = 350 << 10
	// maxDecoded bounds a decompressed part.
	maxDecoded = 8 << 20
	// spillMargin keeps a spilled part alive a little longer than the
	// HOT item that refers to it.
	spillMargin = 2 * 24 * time.Hour
	// maxBatchGet is BatchGetItem's key limit.
	maxBatchGet = 100
)

// DynamoDB stores principal states in a DynamoDB table with a string
// partition key pk and a string sort key sk. It is safe for concurrent use,
// and any number of processes may share a table: writes are conditional on
// the version loaded.
type DynamoDB struct {
	client DynamoDBAPI
	table  string
	log    *slog.Logger
	// Forget is the forgetting period used for a state that does not
	// carry one (detectors.State.Forget, which the engine sets from the
	// config in force); an item expires (TTL attribute expires_at) this
	// long after the principal's last event.
	Forget time.Duration

	readMicro, writeMicro atomic.Int64
	resets                atomic.Int64

	mu   sync.Mutex
	meta map[weak.Pointer[detectors.State]]itemMeta
}

var _ detectors.Store = (*DynamoDB)(nil)

// itemMeta is what Load learned about a state's stored item and Save needs.
type itemMeta struct {
	exists bool
	// raw is the stored version attribute, nil when missing.
	raw               types.AttributeValue
	coldRef, casesRef string
	coldExp, casesExp int64
}

// NewDynamoDB returns a store over table. log receives warnings about
// unusable items and compactions; nil discards them.
func NewDynamoDB(client DynamoDBAPI, table string, log *slog.Logger) *DynamoDB {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DynamoDB{
		client: client, table: table, log: log,
		Forget: 90 * 24 * time.Hour,
		meta:   map[weak.Pointer[detectors.State]]itemMeta{},
	}
}

// NewRetryer returns the retryer the store's client should use: up to 8
// attempts with exponential backoff and full jitter capped at 3 seconds, for
// throttling (ProvisionedThroughputExceededException, ThrottlingException),
// 5xx answers and transport errors. The client-side retry quota is off:
// under sustained throttling a Lambda should slow down, not fail the batch.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 8
		o.MaxBackoff = 3 * time.Second
		o.RateLimiter = ratelimit.None
	})
}

// NewDynamoDBClient returns a DynamoDB client with the store's retryer;
// a non-empty endpoint (e.g. a local dynalite) is set as BaseEndpoint.
func NewDynamoDBClient(cfg aws.Config, endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.Retryer = NewRetryer()
	})
}

// CreateTable creates an on-demand table with the store's keys if it does
// not exist, and waits until it is active. It does not enable TTL: tables
// for backtests hold event-time expiry dates in the past.
func CreateTable(ctx context.Context, client TableAPI, name string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 5*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	return nil
}

// ConsumedCapacity returns the read and write capacity units DynamoDB
// reported for the store's calls so far. Failed conditional writes are
// billed by DynamoDB but not reported, so they are not counted.
func (s *DynamoDB) ConsumedCapacity() (read, write float64) {
	return float64(s.readMicro.Load()) / 1e6, float64(s.writeMicro.Load()) / 1e6
}

// Resets returns the number of principals reset because their stored item
// could not be used.
func (s *DynamoDB) Resets() int64 { return s.resets.Load() }

func addCapacity(c *atomic.Int64, cc *types.ConsumedCapacity) {
	if cc != nil && cc.CapacityUnits != nil {
		c.Add(int64(math.Round(*cc.CapacityUnits * 1e6)))
	}
}

func pkOf(key string) string { return "P#" + key }

func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// Load implements detectors.Store: one consistent BatchGetItem of the HOT
// items (in chunks of 100 keys), then one of the spilled parts they refer
// to, if any. An item that cannot be decoded is logged and its principal
// reset to an empty baseline that keeps the stored version, so the next
// write still conditions on it. An item written by a newer model version is
// neither used nor reset: it is logged as an error, left out of the map and
// named in the detectors.UnusableStates error returned with the other
// states, so only that principal's events fail.
func (s *DynamoDB) Load(ctx context.Context, keys []string) (map[string]*detectors.State, error) {
	seen := map[string]bool{}
	var hotKeys []map[string]types.AttributeValue
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			hotKeys = append(hotKeys, itemKey(pkOf(k), skHot))
		}
	}
	hots, err := s.batchGet(ctx, hotKeys)
	if err != nil {
		return nil, err
	}
	var refKeys []map[string]types.AttributeValue
	for _, it := range hots {
		for _, a := range []string{attrColdRef, attrCaseRef} {
			if ref, ok := it[a].(*types.AttributeValueMemberS); ok {
				refKeys = append(refKeys, itemKey(str(it[attrPK]), ref.Value))
			}
		}
	}
	var parts map[string]map[string]types.AttributeValue
	if len(refKeys) > 0 {
		if parts, err = s.batchGet(ctx, refKeys); err != nil {
			return nil, err
		}
	}
	out := make(map[string]*detectors.State, len(hots))
	var unusable detectors.UnusableStates
	for _, k := range keys {
		it, ok := hots[pkOf(k)+"\x00"+skHot]
		if !ok || out[k] != nil || unusable[k] != nil {
			continue
		}
		st, m, err := decodeItem(k, it, parts)
		if mv := (*detectors.ModelVersionError)(nil); errors.As(err, &mv) && errors.Is(err, detectors.ErrNewerModel) {
			// A newer binary owns this item: resetting it would wipe
			// what that binary learned.
			s.log.Error("stored baseline written by a newer model version: principal not processed, item left as it is",
				"principal", k, "stored_model", mv.Stored, "binary_model", mv.Current)
			if unusable == nil {
				unusable = detectors.UnusableStates{}
			}
			unusable[k] = err
			continue
		}
		if err != nil {
			s.resets.Add(1)
			s.log.Warn("stored baseline unusable, principal reset", "principal", k, "reason", err.Error())
			st = &detectors.State{Baseline: detectors.NewBaseline(k), Version: st.Version}
			// The parts will be written afresh.
			m.coldRef, m.casesRef = "", ""
		}
		s.setMeta(st, m)
		out[k] = st
	}
	if len(unusable) > 0 {
		return out, unusable
	}
	return out, nil
}

// batchGet reads items by key, retrying unprocessed keys with backoff, and
// returns them by pk NUL sk.
func (s *DynamoDB) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) (map[string]map[string]types.AttributeValue, error) {
	out := make(map[string]map[string]types.AttributeValue, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), maxBatchGet)
		pending := keys[:n]
		keys = keys[n:]
		for round := 0; len(pending) > 0; round++ {
			if round > 0 {
				if round > 10 {
					return nil, fmt.Errorf("batch get %s: %d keys still unprocessed", s.table, len(pending))
				}
				if err := sleep(ctx, backoff(round)); err != nil {
					return nil, err
				}
			}
			res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{
					s.table: {Keys: pending, ConsistentRead: aws.Bool(true)},
				},
				ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
			})
			if err != nil {
				return nil, fmt.Errorf("batch get %s: %w", s.table, err)
			}
			for i := range res.ConsumedCapacity {
				addCapacity(&s.readMicro, &res.ConsumedCapacity[i])
			}
			for _, it := range res.Responses[s.table] {
				out[str(it[attrPK])+"\x00"+str(it[attrSK])] = it
			}
			pending = res.UnprocessedKeys[s.table].Keys
		}
	}
	return out, nil
}

// backoff is exponential with full jitter: up to 50 ms doubling per round,
// capped at 2 s.
func backoff(round int) time.Duration {
	d := min(50*time.Millisecond<<min(round, 6), 2*time.Second)
	return time.Duration(mrand.Int64N(int64(d)) + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func num(v types.AttributeValue) (int64, bool) {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	return i, err == nil
}

func bin(v types.AttributeValue) ([]byte, bool) {
	b, ok := v.(*types.AttributeValueMemberB)
	if !ok {
		return nil, false
	}
	return b.Value, true
}

// decodeItem rebuilds a state from its HOT item and spilled parts. On error
// it still returns the version and meta, for the reset.
func decodeItem(key string, it map[string]types.AttributeValue, parts map[string]map[string]types.AttributeValue) (*detectors.State, itemMeta, error) {
	m := itemMeta{exists: true, raw: it[attrVersion]}
	st := &detectors.State{}
	if v, ok := num(it[attrVersion]); ok {
		st.Version = v
	} else if it[attrVersion] != nil {
		// Unusable version: condition the next write on the raw
		// value, and restart the count.
		st.Version = 0
	}
	if m.raw == nil {
		return st, m, errors.New("no version attribute")
	}
	if _, ok := num(m.raw); !ok {
		return st, m, errors.New("version attribute is not an integer")
	}
	part := func(inline, ref string) ([]byte, string, int64, error) {
		if b, ok := bin(it[inline]); ok {
			d, err := unpack(b)
			return d, "", 0, err
		}
		r := str(it[ref])
		if r == "" {
			return nil, "", 0, nil
		}
		p, ok := parts[str(it[attrPK])+"\x00"+r]
		if !ok {
			return nil, "", 0, fmt.Errorf("spilled part %s missing", r)
		}
		b, ok := bin(p[attrData])
		if !ok {
			return nil, "", 0, fmt.Errorf("spilled part %s has no data", r)
		}
		exp, _ := num(p[attrExpires])
		d, err := unpack(b)
		return d, r, exp, err
	}
	hotB, ok := bin(it[attrHot])
	if !ok {
		return st, m, errors.New("no hot part")
	}
	hot, err := unpack(hotB)
	if err != nil {
		return st, m, fmt.Errorf("hot part: %w", err)
	}
	// A newer writer is recognised before any other part is read: its
	// parts may be laid out in ways this binary cannot read.
	if v, ok := detectors.StoredModel(hot); ok && v > detectors.ModelVersion {
		return st, m, &detectors.ModelVersionError{Stored: v, Current: detectors.ModelVersion}
	}
	cold, coldRef, coldExp, err := part(attrCold, attrColdRef)
	if err != nil {
		return st, m, fmt.Errorf("cold part: %w", err)
	}
	cases, casesRef, casesExp, err := part(attrCases, attrCaseRef)
	if err != nil {
		return st, m, fmt.Errorf("cases: %w", err)
	}
	b, err := detectors.DecodeBaseline(hot, cold)
	if err != nil {
		return st, m, err
	}
	if b.Key != key {
		return st, m, fmt.Errorf("item holds the baseline of %q", b.Key)
	}
	cs, err := detectors.DecodeCases(cases)
	if err != nil {
		return st, m, err
	}
	st.Baseline, st.Cases = b, cs
	m.coldRef, m.coldExp, m.casesRef, m.casesExp = coldRef, coldExp, casesRef, casesExp
	return st, m, nil
}

func (s *DynamoDB) setMeta(st *detectors.State, m itemMeta) {
	wp := weak.Make(st)
	s.mu.Lock()
	_, had := s.meta[wp]
	s.meta[wp] = m
	s.mu.Unlock()
	if !had {
		runtime.AddCleanup(st, func(wp weak.Pointer[detectors.State]) {
			s.mu.Lock()
			delete(s.meta, wp)
			s.mu.Unlock()
		}, wp)
	}
}

func (s *DynamoDB) getMeta(st *detectors.State) (itemMeta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meta[weak.Make(st)]
	return m, ok
}

// Save implements detectors.Store. It writes the HOT item with a condition
// on the version loaded (attribute_not_exists(pk) for a new principal) and
// increments it. Parts too large to stay in the HOT item are spilled to
// immutable items written before it, under a new sort key, and only when
// they changed; the HOT item refers to them, so a reader sees either the
// old or the new state, never a mix. A failed condition returns
// detectors.ErrConflict.
func (s *DynamoDB) Save(ctx context.Context, st *detectors.State) error {
	b := st.Baseline
	key := b.Key
	m, known := s.getMeta(st)
	if !known && st.Version != 0 {
		m = itemMeta{exists: true, raw: &types.AttributeValueMemberN{Value: strconv.FormatInt(st.Version, 10)}}
	}
	nv := st.Version + 1
	var hotExp int64
	forget := st.Forget // the loaded config's forgetting period
	if forget <= 0 {
		forget = s.Forget
	}
	if b.LastSeen > 0 && forget > 0 {
		hotExp = b.LastSeen + int64(forget/time.Second)
	}
	spillExp := int64(0)
	if hotExp > 0 {
		spillExp = hotExp + int64(spillMargin/time.Second)
	}

	hot := pack(b.EncodeHot())
	if len(hot) > compactLimit {
		return fmt.Errorf("save baseline %s: hot part of %d bytes", key, len(hot))
	}
	// Placement: a spilled part that did not change stays where it is
	// (unless it would expire before the HOT item) and is not encoded
	// again; everything else goes inline while the HOT item stays small,
	// then spills, cold first.
	keepCold := m.coldRef != "" && !b.ColdDirty && m.coldExp >= hotExp
	keepCases := m.casesRef != "" && !st.CasesDirty && m.casesExp >= hotExp
	var cold, cases []byte
	if !keepCold {
		cold = pack(b.EncodeCold())
		if len(cold) > compactLimit {
			cold = s.compactCold(b)
		}
	}
	if !keepCases {
		rawCases, err := detectors.EncodeCases(st.Cases)
		if err != nil {
			return fmt.Errorf("save baseline %s: %w", key, err)
		}
		cases = pack(rawCases)
		if len(cases) > compactLimit {
			if cases, err = s.compactCases(st); err != nil {
				return fmt.Errorf("save baseline %s: %w", key, err)
			}
		}
	}
	coldInline, casesInline := !keepCold, !keepCases
	size := len(hot)
	if coldInline {
		size += len(cold)
	}
	if casesInline {
		size += len(cases)
	}
	coldRef, casesRef := m.coldRef, m.casesRef
	nonce := ""
	if size > inlineLimit && coldInline {
		coldInline, size = false, size-len(cold)
		nonce = newNonce()
		coldRef = fmt.Sprintf("COLD#%d#%s", nv, nonce)
		if err := s.putPart(ctx, key, coldRef, cold, spillExp); err != nil {
			return err
		}
	} else if coldInline {
		coldRef = ""
	}
	if size > inlineLimit && casesInline && len(cases) > 0 {
		casesInline = false
		if nonce == "" {
			nonce = newNonce()
		}
		casesRef = fmt.Sprintf("CASES#%d#%s", nv, nonce)
		if err := s.putPart(ctx, key, casesRef, cases, spillExp); err != nil {
			return err
		}
	} else if casesInline {
		casesRef = ""
	}

	item := itemKey(pkOf(key), skHot)
	item[attrVersion] = &types.AttributeValueMemberN{Value: strconv.FormatInt(nv, 10)}
	token := newNonce()
	item[attrWriter] = &types.AttributeValueMemberS{Value: token}
	item[attrHot] = &types.AttributeValueMemberB{Value: hot}
	if hotExp > 0 {
		item[attrExpires] = &types.AttributeValueMemberN{Value: strconv.FormatInt(hotExp, 10)}
	}
	if coldInline {
		item[attrCold] = &types.AttributeValueMemberB{Value: cold}
	} else {
		item[attrColdRef] = &types.AttributeValueMemberS{Value: coldRef}
	}
	if casesInline {
		if len(cases) > 0 {
			item[attrCases] = &types.AttributeValueMemberB{Value: cases}
		}
	} else {
		item[attrCaseRef] = &types.AttributeValueMemberS{Value: casesRef}
	}

	in := &dynamodb.PutItemInput{
		TableName:              aws.String(s.table),
		Item:                   item,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		// On a failed condition, DynamoDB returns the item in the
		// error: no extra read to tell a conflict from our own retry.
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	switch {
	case !m.exists:
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	case m.raw == nil:
		in.ConditionExpression = aws.String("attribute_exists(pk) AND attribute_not_exists(#v)")
		in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
	default:
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": m.raw}
	}
	out, err := s.client.PutItem(ctx, in)
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return fmt.Errorf("save baseline %s: %w", key, err)
		}
		ours, err := s.landed(ctx, key, ccf.Item, nv, token)
		if err != nil {
			return err
		}
		if !ours {
			return detectors.ErrConflict
		}
	} else {
		addCapacity(&s.writeMicro, out.ConsumedCapacity)
	}
	st.Version = nv
	b.ColdDirty = false
	st.CasesDirty = false
	nm := itemMeta{exists: true, raw: item[attrVersion]}
	if !coldInline {
		nm.coldRef, nm.coldExp = coldRef, m.coldExp
		if !keepCold {
			nm.coldExp = spillExp
		}
	}
	if !casesInline {
		nm.casesRef, nm.casesExp = casesRef, m.casesExp
		if !keepCases {
			nm.casesExp = spillExp
		}
	}
	s.setMeta(st, nm)
	return nil
}

// landed reports whether a write whose condition failed had in fact
// succeeded on an earlier attempt whose answer was lost (a timeout or a 5xx
// the SDK retried): the item then holds our version and writer token.
// Without it the engine would apply the same events twice. cur is the item
// DynamoDB returned with the failure; servers that do not return it are
// asked with a consistent read.
func (s *DynamoDB) landed(ctx context.Context, key string, cur map[string]types.AttributeValue, nv int64, token string) (bool, error) {
	if cur == nil {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:                aws.String(s.table),
			Key:                      itemKey(pkOf(key), skHot),
			ConsistentRead:           aws.Bool(true),
			ProjectionExpression:     aws.String("#v, #w"),
			ExpressionAttributeNames: map[string]string{"#v": attrVersion, "#w": attrWriter},
			ReturnConsumedCapacity:   types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return false, fmt.Errorf("check conflict on %s: %w", key, err)
		}
		addCapacity(&s.readMicro, out.ConsumedCapacity)
		cur = out.Item
	}
	v, ok := num(cur[attrVersion])
	return ok && v == nv && str(cur[attrWriter]) == token, nil
}

// putPart writes a spilled part under a sort key never used before, so it
// needs no condition: only the HOT item's conditional write makes it
// current. Parts no longer referred to expire with the TTL.
func (s *DynamoDB) putPart(ctx context.Context, key, sk string, data []byte, exp int64) error {
	item := itemKey(pkOf(key), sk)
	item[attrData] = &types.AttributeValueMemberB{Value: data}
	if exp > 0 {
		item[attrExpires] = &types.AttributeValueMemberN{Value: strconv.FormatInt(exp, 10)}
	}
	out, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:              aws.String(s.table),
		Item:                   item,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return fmt.Errorf("save baseline %s part %s: %w", key, sk, err)
	}
	addCapacity(&s.writeMicro, out.ConsumedCapacity)
	return nil
}

// compactCold evicts the values unseen the longest until the cold part fits
// well below the item limit. The model caps its dimensions, so this is a
// fallback that should never run.
func (s *DynamoDB) compactCold(b *detectors.Baseline) []byte {
	type ref struct {
		d    int
		k    string
		last int32
	}
	var all []ref
	for d := range b.Dims {
		for k, v := range b.Dims[d].Values {
			all = append(all, ref{d, k, v.Last})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].last != all[j].last {
			return all[i].last < all[j].last
		}
		if all[i].d != all[j].d {
			return all[i].d < all[j].d
		}
		return all[i].k < all[j].k
	})
	before := len(all)
	cold := pack(b.EncodeCold())
	for len(cold) > compactLimit*9/10 && len(all) > 0 {
		n := max(1, len(all)/10)
		for _, r := range all[:n] {
			delete(b.Dims[r.d].Values, r.k)
		}
		all = all[n:]
		cold = pack(b.EncodeCold())
	}
	b.ColdDirty = true
	s.log.Warn("baseline compacted", "principal", b.Key, "part", "cold", "values_before", before, "values_after", len(all), "bytes", len(cold))
	return cold
}

// compactCases drops the oldest cases until the dedupe state fits.
func (s *DynamoDB) compactCases(st *detectors.State) ([]byte, error) {
	sort.SliceStable(st.Cases, func(i, j int) bool { return st.Cases[i].Last > st.Cases[j].Last })
	before := len(st.Cases)
	for {
		raw, err := detectors.EncodeCases(st.Cases)
		if err != nil {
			return nil, err
		}
		p := pack(raw)
		if len(p) <= compactLimit*9/10 || len(st.Cases) == 0 {
			st.CasesDirty = true
			s.log.Warn("baseline compacted", "principal", st.Baseline.Key, "part", "cases", "cases_before", before, "cases_after", len(st.Cases), "bytes", len(p))
			return p, nil
		}
		st.Cases = st.Cases[:len(st.Cases)-1]
	}
}

func newNonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Encoded parts start with a format byte: raw or DEFLATE.
const (
	formatRaw     = 0
	formatDeflate = 1
)

var flaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestCompression)
	return w
}}

// pack compresses b with DEFLATE when that makes it smaller; a few hundred
// bytes of hot part barely shrink, value sets and findings do (about 2x
// and 10x).
func pack(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	var buf bytes.Buffer
	buf.WriteByte(formatDeflate)
	w := flaters.Get().(*flate.Writer)
	w.Reset(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	flaters.Put(w)
	if buf.Len() < len(b)+1 {
		return buf.Bytes()
	}
	return append([]byte{formatRaw}, b...)
}

func unpack(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	switch b[0] {
	case formatRaw:
		return b[1:], nil
	case formatDeflate:
		r := flate.NewReader(bytes.NewReader(b[1:]))
		defer r.Close()
		out, err := io.ReadAll(io.LimitReader(r, maxDecoded+1))
		if err != nil {
			return nil, fmt.Errorf("inflate: %w", err)
		}
		if len(out) > maxDecoded {
			return nil, errors.New("inflate: too large")
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown encoding %d", b[0])
	}
}
