package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3API is the part of the S3 client a Reader uses to read an archive in a
// bucket (s3://bucket/prefix inputs).
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Location is a parsed s3://bucket/prefix input.
type S3Location struct {
	Bucket, Prefix string
}

// IsS3 reports whether an input path names an S3 location.
func IsS3(p string) bool { return strings.HasPrefix(p, "s3://") }

// ParseS3 parses s3://bucket[/prefix].
func ParseS3(p string) (S3Location, error) {
	rest, ok := strings.CutPrefix(p, "s3://")
	if !ok {
		return S3Location{}, fmt.Errorf("input %s: not an s3:// URL", p)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" || strings.ContainsAny(bucket, " \t") {
		return S3Location{}, fmt.Errorf("input %s: no bucket name", p)
	}
	return S3Location{Bucket: bucket, Prefix: prefix}, nil
}

// regionDir matches the CloudTrail region directory of an archive key:
// AWSLogs/[o-…/]<account>/CloudTrail/<region>/.
var regionDir = regexp.MustCompile(`(^|/)CloudTrail/[^/]+/`)

// s3Object is one archive file: its URL and size.
type s3Object struct {
	url  string
	size int64
}

// listS3 returns the archive files under loc. Without a time range it
// lists everything below the prefix; with one it walks the organization
// trail layout and lists only the day directories that can hold events of
// the range (a file lands in the directory of its delivery day, so the day
// after Until is listed too), in parallel.
func (r *Reader) listS3(ctx context.Context, loc S3Location) ([]s3Object, error) {
	if r.S3 == nil {
		return nil, fmt.Errorf("input s3://%s/%s: no S3 client configured", loc.Bucket, loc.Prefix)
	}
	if r.Since.IsZero() && r.Until.IsZero() {
		return r.listAll(ctx, loc.Bucket, loc.Prefix)
	}
	// The region directories under the prefix (or the one it is in).
	var regions []string
	if m := regionDir.FindStringIndex(loc.Prefix); m != nil {
		regions = []string{loc.Prefix[:m[1]]}
	} else {
		var err error
		if regions, err = r.findRegions(ctx, loc.Bucket, loc.Prefix, 0); err != nil {
			return nil, err
		}
	}
	var prefixes []string
	for _, reg := range regions {
		for _, day := range r.days() {
			dp := reg + day.Format("2006/01/02") + "/"
			switch {
			case strings.HasPrefix(loc.Prefix, dp):
				prefixes = append(prefixes, loc.Prefix)
			case strings.HasPrefix(dp, loc.Prefix):
				prefixes = append(prefixes, dp)
			}
		}
	}
	out := make([][]s3Object, len(prefixes))
	errs := make([]error, len(prefixes))
	sem := make(chan struct{}, r.parallel())
	var wg sync.WaitGroup
	for i, p := range prefixes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = r.listAll(ctx, loc.Bucket, p)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var all []s3Object
	for _, o := range out {
		all = append(all, o...)
	}
	return all, nil
}

// days returns the UTC days whose directories can hold events of
// [Since, Until): from Since's day to the day after Until's.
func (r *Reader) days() []time.Time {
	from, to := r.Since.UTC(), r.Until.UTC()
	if r.Since.IsZero() {
		// No lower bound: CloudTrail began in 2013.
		from = time.Date(2013, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	if r.Until.IsZero() {
		to = time.Now().UTC()
	}
	from = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	var out []time.Time
	for d := from; !d.After(to.Add(24 * time.Hour)); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}

// findRegions walks the key hierarchy below prefix, one level per listing,
// down to the CloudTrail region directories (CloudTrail-Digest and other
// siblings are left out).
func (r *Reader) findRegions(ctx context.Context, bucket, prefix string, depth int) ([]string, error) {
	if depth > 6 {
		return nil, nil
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		// A partial name: list what it starts.
		dirs, err := r.listDirs(ctx, bucket, prefix)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, d := range dirs {
			sub, err := r.findRegions(ctx, bucket, d, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
		return out, nil
	}
	dirs, err := r.listDirs(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range dirs {
		if path.Base(strings.TrimSuffix(d, "/")) == "CloudTrail" {
			regs, err := r.listDirs(ctx, bucket, d)
			if err != nil {
				return nil, err
			}
			out = append(out, regs...)
			continue
		}
		if strings.HasSuffix(d, "/CloudTrail-Digest/") || strings.HasSuffix(d, "/CloudTrail-Insight/") {
			continue
		}
		sub, err := r.findRegions(ctx, bucket, d, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// listDirs lists the common prefixes one level below prefix.
func (r *Reader) listDirs(ctx context.Context, bucket, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(r.S3, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, aws.ToString(cp.Prefix))
		}
	}
	return out, nil
}

// listAll lists every archive file below prefix: not directory markers,
// hidden names or CloudTrail digest files.
func (r *Reader) listAll(ctx context.Context, bucket, prefix string) ([]s3Object, error) {
	var out []s3Object
	p := s3.NewListObjectsV2Paginator(r.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if strings.HasSuffix(k, "/") || strings.HasPrefix(path.Base(k), ".") ||
				strings.Contains(k, "/CloudTrail-Digest/") || strings.Contains(k, "/CloudTrail-Insight/") {
				continue
			}
			out = append(out, s3Object{url: "s3://" + bucket + "/" + k, size: aws.ToInt64(o.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].url < out[j].url })
	return out, nil
}

// DefaultS3Parallel is the default number of S3 requests in flight. A GET
// of a small file is mostly waiting for S3's first byte (tens of
// milliseconds), so the requests in flight, not the CPU, bound the files
// read per second: at 20 ms a file, 8 in flight read at most 400 files a
// second, 32 read 1,600. Each stream also holds at most this many files
// read ahead (each up to its decompressed size). The S3 client keeps as
// many connections (newS3Client).
const DefaultS3Parallel = 32

// parallel is the number of S3 requests in flight.
func (r *Reader) parallel() int {
	if r.Parallel > 0 {
		return r.Parallel
	}
	return DefaultS3Parallel
}

// maxS3Object bounds an archive file read into memory (CloudTrail files are
// a few MB at most).
const maxS3Object = 512 << 20

// Object bodies, compressed and decompressed, are read into buffers that
// serve one object after another: an archive is thousands of small files.
// A buffer grown beyond maxPooledBuffer (a file far larger than CloudTrail
// writes) is left to the garbage collector.
var objectBuffers sync.Pool // *bytes.Buffer

const maxPooledBuffer = 8 << 20

func getBuffer() *bytes.Buffer {
	if b, ok := objectBuffers.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func putBuffer(b *bytes.Buffer) {
	if b == nil || b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	objectBuffers.Put(b)
}

// getS3 reads one object whole into a buffer from getBuffer.
func (r *Reader) getS3(ctx context.Context, url string) (*bytes.Buffer, error) {
	loc, err := ParseS3(url)
	if err != nil {
		return nil, err
	}
	out, err := r.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Prefix)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer out.Body.Close()
	b := getBuffer()
	if n := aws.ToInt64(out.ContentLength); n > 0 && n < maxS3Object {
		b.Grow(int(n) + bytes.MinRead)
	}
	if _, err := b.ReadFrom(io.LimitReader(out.Body, maxS3Object+1)); err != nil {
		putBuffer(b)
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	if b.Len() > maxS3Object {
		putBuffer(b)
		return nil, fmt.Errorf("get %s: larger than %d MB", url, maxS3Object>>20)
	}
	return b, nil
}

// fetched is a prefetched object.
type fetched struct {
	body *bytes.Buffer // decompressed when it was gzip; putBuffer after use
	size int           // bytes read from S3
	err  error
}

// gunzip decompresses a gzip body in the fetching goroutine, so that with
// several cores decompression runs beside decoding. It returns the
// decompressed body in a new buffer and puts b back, or, for a body that is
// not gzip or not valid gzip, b itself: the decoder then reads it or counts
// it as corrupt.
func gunzip(b *bytes.Buffer) *bytes.Buffer {
	if !bytes.HasPrefix(b.Bytes(), gzipMagic) {
		return b
	}
	zr, err := getGzipReader(bytes.NewReader(b.Bytes()))
	if err != nil {
		return b
	}
	defer gzipReaders.Put(zr)
	out := getBuffer()
	if need := b.Len() * 8; out.Cap() < need && need < maxS3Object {
		out.Grow(need)
	}
	if _, err := out.ReadFrom(io.LimitReader(zr, maxS3Object+1)); err != nil || out.Len() > maxS3Object {
		putBuffer(out)
		return b
	}
	putBuffer(b)
	return out
}

// prefetch starts GETs of a stream's S3 files in order, at most ahead of
// them waiting to be consumed, sharing the reader's request budget with
// the other streams. next(i) returns file i (call in order); stop ends it.
func (r *Reader) prefetch(ctx context.Context, files []string, ahead int) (next func(i int) fetched, stop func()) {
	results := make([]chan fetched, len(files))
	for i := range results {
		results[i] = make(chan fetched, 1)
	}
	slots := make(chan struct{}, ahead)
	done := make(chan struct{})
	go func() {
		for i, f := range files {
			if !IsS3(f) {
				results[i] <- fetched{}
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-done:
				return
			}
			select {
			case r.sem <- struct{}{}:
			case <-done:
				return
			}
			go func() {
				b, err := r.getS3(ctx, f)
				<-r.sem
				if err != nil {
					results[i] <- fetched{err: err}
					return
				}
				n := b.Len()
				results[i] <- fetched{body: gunzip(b), size: n}
			}()
		}
	}()
	next = func(i int) fetched {
		var f fetched
		select {
		case f = <-results[i]:
		case <-ctx.Done():
			return fetched{err: ctx.Err()}
		}
		if IsS3(files[i]) {
			<-slots
		}
		return f
	}
	var once sync.Once
	return next, func() { once.Do(func() { close(done) }) }
}
