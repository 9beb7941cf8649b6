package lambdaenv

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestRead(t *testing.T) {
	var e struct {
		Table string `env:"TABLE_NAME"`
		Level string `env:"LOG_LEVEL"`
		Other string
	}
	Read(&e, func(k string) string { return map[string]string{"TABLE_NAME": " t1 ", "LOG_LEVEL": "debug"}[k] })
	if e.Table != "t1" || e.Level != "debug" || e.Other != "" {
		t.Errorf("Read = %+v", e)
	}
}

func TestLoggerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(&buf, slog.LevelInfo).With("fn", "detect")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	log.InfoContext(ctx, "hello")
	log.DebugContext(ctx, "hidden")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %q", buf.String())
	}
	if rec["requestId"] != "req-1" || rec["fn"] != "detect" {
		t.Errorf("record = %v", rec)
	}
}
