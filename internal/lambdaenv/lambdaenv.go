// Package lambdaenv holds what every Lambda function's main needs: reading
// its environment once into a tagged struct, and a JSON slog logger that
// adds the Lambda request ID to every record.
package lambdaenv

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Read fills the string fields of the struct dst points to from the
// variables named by their `env` tags, trimmed.
func Read(dst any, lookup func(string) string) {
	v := reflect.ValueOf(dst).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if name := v.Type().Field(i).Tag.Get("env"); name != "" && f.Kind() == reflect.String {
			f.SetString(strings.TrimSpace(lookup(name)))
		}
	}
}

// Logger returns a JSON logger at level that adds "requestId" to records
// logged with an invocation's context. It always writes JSON, whatever
// AWS_LAMBDA_LOG_FORMAT says.
func Logger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(&requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level, ReplaceAttr: lambdacontext.ReplaceAttr,
	})})
}

type requestIDHandler struct{ slog.Handler }

func (h *requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h *requestIDHandler) WithGroup(name string) slog.Handler {
	return &requestIDHandler{h.Handler.WithGroup(name)}
}
