package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	var opts []func(*awsconfig.LoadOptions) error
	if o.region != "" {
		opts = append(opts, awsconfig.WithRegion(o.region))
	}
	if o.endpoint != "" && !envHasCredentials() {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := baselines.NewDynamoDBClient(cfg, o.endpoint)
	if o.createTable {
		if err := baselines.CreateTable(ctx, client, o.table); err != nil {
			return nil, err
		}
	} else if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(o.table)}); err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("DynamoDB table %s not found (use --create-table to create it)", o.table)
		}
		return nil, fmt.Errorf("describe table %s: %w", o.table, err)
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
	return store, nil
}

func envHasCredentials() bool {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		if os.Getenv(v) != "" {
			return true
		}
	}
	return false
}
