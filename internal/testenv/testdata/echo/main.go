// Command echo is a minimal Lambda function for testing the testenv
// harness: it returns its input with the function name it runs as.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, in json.RawMessage) (map[string]any, error) {
		return map[string]any{"echo": in, "greeting": os.Getenv("GREETING"), "region": os.Getenv("AWS_REGION")}, nil
	})
}
