// Command gensample writes the synthetic CloudTrail sample (see package
// sample): JSON Lines, the CloudTrail S3 layout or EventBridge envelopes,
// plus labels.json; or, with -load-events, a load-test stream.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trailwatch/trailwatch/sample"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gensample:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gensample", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "random seed; same seed, same bytes")
	out := fs.String("out", "", "output directory (for -load-events: output file, default stdout)")
	format := fs.String("format", "jsonl", "jsonl | s3 | eventbridge")
	loadEvents := fs.Int("load-events", 0, "write N load-test records as JSON Lines instead of the sample")
	loadPrincipals := fs.Int("load-principals", 100, "number of distinct principals in load mode")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *loadEvents > 0 {
		w := stdout
		if *out != "" {
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := sample.GenerateLoad(bw, *seed, *loadEvents, *loadPrincipals); err != nil {
			return err
		}
		return bw.Flush()
	}
	if *out == "" {
		return fmt.Errorf("-out DIR is required")
	}
	cfg := sample.DefaultConfig()
	cfg.Seed = *seed
	ds, err := sample.Generate(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	switch *format {
	case "jsonl":
		err = sample.WriteJSONLGzip(filepath.Join(*out, "cloudtrail.jsonl.gz"), ds.Records)
	case "s3":
		err = sample.WriteS3(*out, ds.Records, ds.Seed)
	case "eventbridge":
		var f *os.File
		f, err = os.Create(filepath.Join(*out, "eventbridge.jsonl"))
		if err == nil {
			err = sample.WriteEventBridge(f, ds.Records, ds.Seed)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	default:
		return fmt.Errorf("unknown -format %q (want jsonl, s3 or eventbridge)", *format)
	}
	if err != nil {
		return err
	}
	if err := sample.WriteLabelsFile(filepath.Join(*out, "labels.json"), ds.Labels); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gensample: %d records, %d labels -> %s (%s)\n", len(ds.Records), len(ds.Labels), *out, *format)
	return nil
}
