package main

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

const twoPrincipals = "testdata/two-principals.jsonl"

// scanTable returns every item of the table, by pk and sk.
func scanTable(t *testing.T, c *dynamodb.Client, table string) map[string]map[string]types.AttributeValue {
	t.Helper()
	out := map[string]map[string]types.AttributeValue{}
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			pk := it["pk"].(*types.AttributeValueMemberS).Value
			sk := it["sk"].(*types.AttributeValueMemberS).Value
			out[pk+" "+sk] = it
		}
	}
	return out
}

// setHotModel rewrites the hot part of one HOT item as a binary of model
// version model would have written it. The part is one format byte (0 raw,
// 1 DEFLATE) and the encoding, whose second byte is the model version.
func setHotModel(t *testing.T, c *dynamodb.Client, table string, it map[string]types.AttributeValue, model int) {
	t.Helper()
	packed := it["hot"].(*types.AttributeValueMemberB).Value
	var hot []byte
	switch packed[0] {
	case 0:
		hot = append([]byte(nil), packed[1:]...)
	case 1:
		var err error
		if hot, err = io.ReadAll(flate.NewReader(bytes.NewReader(packed[1:]))); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("hot part format %d", packed[0])
	}
	if hot[1] != detectors.ModelVersion {
		t.Fatalf("hot part of model %d", hot[1])
	}
	hot[1] = byte(model)
	it["hot"] = &types.AttributeValueMemberB{Value: append([]byte{0}, hot...)}
	if _, err := c.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
		t.Fatal(err)
	}
}

// TestAdversarialReplayRefusesNewerModel: `trailwatch replay --store
// dynamodb` pointed at a table where a newer trailwatch wrote a baseline
// stops with exit status 1 and a one-line reason, and writes nothing.
// The benign twin is an older model's baseline, which replay resets and
// goes on.
func TestAdversarialReplayRefusesNewerModel(t *testing.T) {
	tests := []struct {
		name    string
		model   int
		wantErr string
	}{
		{"newer model refused", detectors.ModelVersion + 1, "newer than this trailwatch's"},
		{"older model reset", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := testenv.Dynalite(t)
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_PROFILE", "")
			c := baselines.NewDynamoDBClient(aws.Config{Region: "us-east-1",
				Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}, ep)
			args := []string{"replay", "--store", "dynamodb", "--endpoint", ep, "--table", "tw-versions", "--quiet", twoPrincipals}
			var out, errOut bytes.Buffer
			if err := run(append(args[:len(args)-1:len(args)-1], "--create-table", twoPrincipals), nil, &out, &errOut); err != nil {
				t.Fatalf("first replay: %v\n%s", err, errOut.String())
			}
			before := scanTable(t, c, "tw-versions")
			alice := before["P#111122223333:user/alice HOT"]
			if alice == nil || len(before) < 2 {
				t.Fatalf("first replay stored %d items, no alice", len(before))
			}
			setHotModel(t, c, "tw-versions", alice, tt.model)
			before = scanTable(t, c, "tw-versions")

			err := run(args, nil, &out, &errOut)
			after := scanTable(t, c, "tw-versions")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("replay over an older model: %v\n%s", err, errOut.String())
				}
				if reflect.DeepEqual(after["P#111122223333:user/alice HOT"], before["P#111122223333:user/alice HOT"]) {
					t.Error("the older baseline was not reset and written")
				}
				return
			}
			var ee *exitError
			if err == nil || errors.As(err, &ee) && ee.code != 1 {
				t.Fatalf("replay over a newer model: %v, want exit status 1", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "111122223333:user/alice") ||
				strings.Contains(err.Error(), "\n") {
				t.Errorf("reason %q, want one line naming the principal and %q", err, tt.wantErr)
			}
			if !errors.Is(err, detectors.ErrNewerModel) {
				t.Errorf("%v does not wrap ErrNewerModel", err)
			}
			if !reflect.DeepEqual(after, before) {
				t.Errorf("replay wrote to the table: %d items before, %d after", len(before), len(after))
			}
		})
	}
}
