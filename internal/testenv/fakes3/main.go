// Command fakes3 serves an S3 API (gofakes3 over an in-memory backend) on
// a free loopback port, in a process of its own, so that a benchmark can
// measure an S3 client without the server's CPU counted against it.
//
//	fakes3 [-bucket NAME -load DIR] [-latency DURATION]
//
// It creates the bucket, puts every regular file below DIR into it under
// its slash-separated relative path, prints the endpoint URL
// ("http://127.0.0.1:PORT") on a line of standard output once it answers,
// and exits when its standard input closes (the parent stopped it or
// died). -latency delays every answer, as a far S3 endpoint's first byte
// is delayed. testenv.S3Process starts it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakes3:", err)
		os.Exit(1)
	}
}

func run() error {
	bucket := flag.String("bucket", "", "bucket to create")
	load := flag.String("load", "", "directory whose files are put into the bucket")
	latency := flag.Duration("latency", 0, "delay before every answer")
	flag.Parse()
	backend := s3mem.New()
	if *bucket != "" {
		if err := backend.CreateBucket(*bucket); err != nil {
			return fmt.Errorf("create bucket %s: %w", *bucket, err)
		}
		if *load != "" {
			if err := loadDir(backend, *bucket, *load); err != nil {
				return err
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	api := gofakes3.New(backend, gofakes3.WithAutoBucket(false)).Server()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(*latency)
		api.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	fmt.Printf("http://%s\n", l.Addr())
	// The parent holds our standard input: EOF means stop.
	io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}

// loadDir puts the regular files below dir into bucket.
func loadDir(backend *s3mem.Backend, bucket, dir string) error {
	return filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := backend.PutObject(bucket, filepath.ToSlash(rel), map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
			return fmt.Errorf("put %s: %w", rel, err)
		}
		return nil
	})
}
