package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
)

// openDynamoDBStore opens the DynamoDB store for replay: the region comes
// from --region, else the environment (AWS_REGION, shared config), else
// us-east-1. With --endpoint and no credentials in the environment it uses
// dummy static credentials, which local servers such as dynalite accept.
func openDynamoDBStore(ctx context.Context, o *replayOptions, log *slog.Logger) (detectors.Store, error) {
	if n := len(o.table); n < 3 || n > 255 {
		return nil, usageErr("--table: DynamoDB table names are 3 to 255 characters long, got %q", o.table)
	}
	client, err := openDynamoDBClient(ctx, o.table, o.endpoint, o.region, o.createTable)
	if err != nil {
		return nil, err
	}
	store := baselines.NewDynamoDB(client, o.table, log)
	if o.configFile != "" {
		// The forgetting period sets the items' expiry (TTL).
		c, _, err := config.Load(o.configFile, time.Now())
		if err != nil {
			return nil, err
		}
		store.Forget = c.Forget
	}
	return &replayStore{DynamoDB: store, table: o.table}, nil
}

// openDynamoDBClient opens a DynamoDB client (region from region, else the
// environment, else us-east-1; dummy credentials for a local endpoint
// without any) and checks that the table exists, or creates it.
func openDynamoDBClient(ctx context.Context, table, endpoint, region string, create bool) (*dynamodb.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if endpoint != "" && !envHasCredentials() {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := baselines.NewDynamoDBClient(cfg, endpoint)
	if create {
		if err := baselines.CreateTable(ctx, client, table); err != nil {
			return nil, err
		}
	} else if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("DynamoDB table %s not found (use --create-table to create it)", table)
		}
		return nil, fmt.Errorf("describe table %s: %w", table, err)
	}
	return client, nil
}

// replayStore is the DynamoDB store as replay uses it: the first baseline
// it meets that a newer model version wrote stops the run. The table is
// then shared with a newer trailwatch (a production table, or a rollback),
// which owns it: replay refuses to write to it at all, rather than fail
// that principal and go on writing the others as the deployed function
// does.
type replayStore struct {
	*baselines.DynamoDB
	table   string
	refused atomic.Pointer[newerModelError]
}

// newerModelError is replay's one-line reason for refusing a table.
type newerModelError struct {
	table, principal string
	stored, binary   int
}

func (e *newerModelError) Error() string {
	return fmt.Sprintf("table %s holds a baseline written by model version %d (principal %s), newer than this trailwatch's %d: refusing to write to it; use a newer trailwatch or another --table",
		e.table, e.stored, e.principal, e.binary)
}

func (e *newerModelError) Is(target error) bool { return target == detectors.ErrNewerModel }

// Load implements detectors.Store. A principal of a newer model fails the
// whole load, and every call after it.
func (s *replayStore) Load(ctx context.Context, keys []string) (map[string]*detectors.State, error) {
	if r := s.refused.Load(); r != nil {
		return nil, r
	}
	states, err := s.DynamoDB.Load(ctx, keys)
	var unusable detectors.UnusableStates
	if errors.As(err, &unusable) {
		for _, k := range slices.Sorted(maps.Keys(unusable)) {
			var mv *detectors.ModelVersionError
			if errors.As(unusable[k], &mv) {
				r := &newerModelError{table: s.table, principal: k, stored: mv.Stored, binary: mv.Current}
				s.refused.CompareAndSwap(nil, r)
				return nil, s.refused.Load()
			}
		}
	}
	return states, err
}

// Save implements detectors.Store; it refuses once a newer model was met.
func (s *replayStore) Save(ctx context.Context, st *detectors.State) error {
	if r := s.refused.Load(); r != nil {
		return r
	}
	return s.DynamoDB.Save(ctx, st)
}

func envHasCredentials() bool {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		if os.Getenv(v) != "" {
			return true
		}
	}
	return false
}
