package events

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what a Reader saw. Counters are safe to read concurrently
// (for a progress display) while the reader runs.
type Stats struct {
	Read     atomic.Int64 // entries read, usable or not
	Events   atomic.Int64 // records normalized into events
	Selected atomic.Int64 // events the production rule selects
	Mutating atomic.Int64 // selected events that change state
	SignIns  atomic.Int64 // selected console sign-ins
	Denied   atomic.Int64 // selected events denied for authorization
	Late     atomic.Int64 // events emitted after a later one (beyond the reorder window)
	Files    atomic.Int64
	Bytes    atomic.Int64
	// Listed counts the files found in the inputs (known once listing
	// is done), for a progress bar against Files.
	Listed atomic.Int64
	// OutOfRange counts events outside the reader's Since/Until.
	OutOfRange atomic.Int64
	skips      map[SkipReason]int64
	examples   map[SkipReason]string
}

// Skips returns the skipped counts by reason.
func (s *Stats) Skips() map[SkipReason]int64 {
	out := make(map[SkipReason]int64, len(s.skips))
	for k, v := range s.skips {
		out[k] = v
	}
	return out
}

// SkipExample returns one detail for a skip reason, for the summary.
func (s *Stats) SkipExample(r SkipReason) string { return s.examples[r] }

func (s *Stats) skip(r SkipReason, detail string) {
	if s.skips == nil {
		s.skips = map[SkipReason]int64{}
		s.examples = map[SkipReason]string{}
	}
	s.skips[r]++
	if _, ok := s.examples[r]; !ok {
		s.examples[r] = detail
	}
}

// Reader reads inputs (files, directories, "-" for standard input) and
// yields normalized events in eventTime order.
//
// Each input is a stream: a file, standard input, or the files of one
// directory of a CloudTrail S3 archive (AWSLogs/<account>/CloudTrail/<region>,
// with the date directories below it). A stream's records pass through a
// reorder heap of Window events; streams are merged by time. Records displaced
// by more than the window within their stream are still processed, late, and
// counted. Memory is bounded by the number of streams times the window.
type Reader struct {
	Normalizer *Normalizer
	// Window is the total reorder budget in events, shared by the
	// streams (each gets at least 256). Zero means 16,384.
	Window int
	// Stdin is read for the path "-".
	Stdin io.Reader
	// OnSkip, if set, is called for every skip (for logging).
	OnSkip func(source string, reason SkipReason, detail string)
	// All yields every usable event, selected or not; by default events
	// the production rule does not select are counted and dropped.
	All bool
	// S3 reads s3://bucket/prefix inputs.
	S3 S3API
	// Parallel bounds the S3 requests in flight; zero means
	// DefaultS3Parallel.
	Parallel int
	// Since and Until, when set, keep only events with Since <= eventTime
	// < Until. For s3:// inputs in the CloudTrail layout they also pick
	// the day directories listed, so an archive is not read whole.
	Since, Until time.Time
	Stats        Stats

	sem     chan struct{}
	failMu  sync.Mutex
	failErr error
}

// fail records an error that ends the run (an S3 object that could not be
// read after the client's retries): reading stops at once, so what was
// yielded is a prefix of the full sequence and a rerun can resume.
func (r *Reader) fail(err error) {
	r.failMu.Lock()
	if r.failErr == nil {
		r.failErr = err
	}
	r.failMu.Unlock()
}

func (r *Reader) failed() error {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return r.failErr
}

// inRange reports whether t is within [Since, Until).
func (r *Reader) inRange(t time.Time) bool {
	if !r.Since.IsZero() && t.Before(r.Since) {
		return false
	}
	return r.Until.IsZero() || t.Before(r.Until)
}

type stream struct {
	key   string
	files []string // "-" is standard input
}

// CheckPaths verifies that every path exists and is readable, so that a
// typo fails the run at once with a one-line reason.
func CheckPaths(paths []string) error {
	for _, p := range paths {
		if p == "-" {
			continue
		}
		if IsS3(p) {
			if _, err := ParseS3(p); err != nil {
				return err
			}
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("input %s: %w", p, unwrapPathErr(err))
		}
		if !fi.IsDir() {
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("input %s: %w", p, unwrapPathErr(err))
			}
			f.Close()
		}
	}
	return nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// dateDirs matches the date directories at the end of an archive path.
var dateDirs = regexp.MustCompile(`(/\d{4}(/\d{2}(/\d{2})?)?)$`)

func (r *Reader) streams(ctx context.Context, paths []string) ([]stream, error) {
	byKey := map[string]*stream{}
	var order []string
	add := func(key, file string) {
		s, ok := byKey[key]
		if !ok {
			s = &stream{key: key}
			byKey[key] = s
			order = append(order, key)
		}
		s.files = append(s.files, file)
	}
	for i, p := range paths {
		if p == "-" {
			add(fmt.Sprintf("stdin#%d", i), "-")
			continue
		}
		if IsS3(p) {
			loc, err := ParseS3(p)
			if err != nil {
				return nil, err
			}
			objs, err := r.listS3(ctx, loc)
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				rest := strings.TrimPrefix(o.url, "s3://")
				add("s3:"+dateDirs.ReplaceAllString(path.Dir(rest), ""), o.url)
			}
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", p, unwrapPathErr(err))
		}
		if !fi.IsDir() {
			add("file:"+p, p)
			continue
		}
		err = filepath.WalkDir(p, func(fp string, de fs.DirEntry, err error) error {
			if err != nil {
				r.skip(fp, SkipUnreadable, unwrapPathErr(err).Error())
				if de != nil && de.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if de.IsDir() {
				if fp != p && strings.HasPrefix(de.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if !de.Type().IsRegular() || strings.HasPrefix(de.Name(), ".") {
				return nil
			}
			dir := filepath.ToSlash(filepath.Dir(fp))
			add("dir:"+dateDirs.ReplaceAllString(dir, ""), fp)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", p, err)
		}
	}
	out := make([]stream, 0, len(order))
	for _, k := range order {
		r.Stats.Listed.Add(int64(len(byKey[k].files)))
		s := byKey[k]
		// Archive files are named with their hour, so name order within a
		// stream is time order. Sorting by base name keeps day
		// directories in order too.
		sort.SliceStable(s.files, func(i, j int) bool {
			bi, bj := filepath.Base(s.files[i]), filepath.Base(s.files[j])
			if bi != bj {
				return bi < bj
			}
			return s.files[i] < s.files[j]
		})
		out = append(out, *s)
	}
	return out, nil
}

func (r *Reader) skip(source string, reason SkipReason, detail string) {
	r.Stats.skip(reason, detail)
	if r.OnSkip != nil {
		r.OnSkip(source, reason, detail)
	}
}

// Events returns the events of all paths in time order. Errors that end
// the run (an input that vanished) are reported through errp after the
// sequence ends.
func (r *Reader) Events(paths []string, errp *error) iter.Seq[Event] {
	return r.EventsContext(context.Background(), paths, errp)
}

// EventsContext is Events with a context for S3 requests. An S3 object
// that cannot be read ends the sequence with an error (errp): no later
// event is yielded, so what a caller applied is a prefix of the sequence.
func (r *Reader) EventsContext(ctx context.Context, paths []string, errp *error) iter.Seq[Event] {
	return func(yield func(Event) bool) {
		r.sem = make(chan struct{}, r.parallel())
		defer func() {
			if err := r.failed(); err != nil && *errp == nil {
				*errp = err
			}
		}()
		streams, err := r.streams(ctx, paths)
		if err != nil {
			*errp = err
			return
		}
		if len(streams) == 0 {
			return
		}
		budget := r.Window
		if budget <= 0 {
			budget = 16384
		}
		window := max(256, budget/len(streams))
		ahead := min(r.parallel(), max(2, 2*r.parallel()/len(streams)))
		// An event earlier than one already yielded was displaced by more
		// than the reorder window: it is still processed, and counted.
		var last Event
		emit := func(ev Event) bool {
			if !last.Time.IsZero() && eventLess(ev, last) {
				r.Stats.Late.Add(1)
			} else {
				last = ev
			}
			return yield(ev)
		}
		if len(streams) == 1 {
			for ev := range r.streamEvents(ctx, streams[0], window, ahead) {
				if r.failed() != nil || !emit(ev) {
					return
				}
			}
			return
		}
		// k-way merge of the streams by (time, id).
		h := &mergeHeap{}
		var nexts []func() (Event, bool)
		for _, s := range streams {
			next, stop := iter.Pull(r.streamEvents(ctx, s, window, ahead))
			defer stop()
			nexts = append(nexts, next)
			if ev, ok := next(); ok {
				heap.Push(h, mergeItem{ev: ev, src: len(nexts) - 1})
			}
		}
		for h.Len() > 0 {
			it := heap.Pop(h).(mergeItem)
			if r.failed() != nil || !emit(it.ev) {
				return
			}
			if ev, ok := nexts[it.src](); ok {
				heap.Push(h, mergeItem{ev: ev, src: it.src})
			}
		}
	}
}

// streamEvents decodes a stream's files in order through a reorder heap.
func (r *Reader) streamEvents(ctx context.Context, s stream, window, ahead int) iter.Seq[Event] {
	return func(yield func(Event) bool) {
		h := &eventHeap{}
		stopped := false
		emit := func() bool {
			ev := heap.Pop(h).(Event)
			if !yield(ev) {
				stopped = true
			}
			return !stopped
		}
		// One decoder per stream, so its buffer and interned strings serve
		// every file of the stream.
		var source string
		normalize := r.Normalizer.NormalizeSelected
		if r.All {
			normalize = r.Normalizer.Normalize
		}
		dec := Decoder{
			Read: func() { r.Stats.Read.Add(1) },
			Skip: func(reason SkipReason, detail string) { r.skip(source, reason, detail) },
		}
		dec.Record = func(rec *Record) {
			if stopped {
				return
			}
			ev, err := normalize(rec)
			if err != nil {
				se, ok := err.(*SkipError)
				if !ok {
					se = &SkipError{Reason: SkipNotRecord, Detail: err.Error()}
				}
				if se.Reason == SkipNotSelected {
					// Counted, not logged: most of CloudTrail is reads.
					r.Stats.Events.Add(1)
					r.Stats.skip(SkipNotSelected, "")
				} else {
					r.skip(source, se.Reason, se.Detail)
				}
				return
			}
			r.Stats.Events.Add(1)
			if !r.inRange(ev.Time) {
				r.Stats.OutOfRange.Add(1)
				return
			}
			// What detectors need of these was taken by Normalize;
			// the buffered record need not hold them.
			rec.ResponseElements, rec.AdditionalEventData = nil, nil
			if ev.Selected {
				r.Stats.Selected.Add(1)
				if ev.Mutating {
					r.Stats.Mutating.Add(1)
				}
				if ev.ConsoleSignIn {
					r.Stats.SignIns.Add(1)
				}
				if ev.ErrClass == ErrDenied {
					r.Stats.Denied.Add(1)
				}
			}
			heap.Push(h, ev)
			if h.Len() > window {
				emit()
			}
		}
		var next func(int) fetched
		for _, f := range s.files {
			if IsS3(f) {
				var stopFetch func()
				next, stopFetch = r.prefetch(ctx, s.files, ahead)
				defer stopFetch()
				break
			}
		}
		for i, file := range s.files {
			if stopped {
				return
			}
			source = file
			if IsS3(file) {
				f := next(i)
				if f.err != nil {
					r.fail(f.err)
					return
				}
				r.Stats.Bytes.Add(int64(f.size))
				err := dec.Decode(bytes.NewReader(f.body.Bytes()))
				putBuffer(f.body)
				if err != nil {
					r.skip(source, SkipUnreadable, err.Error())
				}
			} else if err := r.decodeFile(file, &dec); err != nil {
				r.skip(source, SkipUnreadable, err.Error())
			}
			r.Stats.Files.Add(1)
		}
		for h.Len() > 0 && !stopped {
			emit()
		}
	}
}

func (r *Reader) decodeFile(file string, dec *Decoder) error {
	if file == "-" {
		if r.Stdin == nil {
			return fmt.Errorf("no standard input")
		}
		return dec.Decode(countingReader{r.Stdin, &r.Stats.Bytes})
	}
	f, err := os.Open(file)
	if err != nil {
		return unwrapPathErr(err)
	}
	defer f.Close()
	if err := dec.Decode(countingReader{f, &r.Stats.Bytes}); err != nil {
		return fmt.Errorf("read: %w", unwrapPathErr(err))
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// eventLess orders events by time, then ID, so that order does not depend
// on packaging.
func eventLess(a, b Event) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.ID < b.ID
}

type eventHeap []Event

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return eventLess(h[i], h[j]) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(Event)) }
func (h *eventHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = Event{}
	*h = old[:n-1]
	return x
}

type mergeItem struct {
	ev  Event
	src int
}

type mergeHeap []mergeItem

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if eventLess(h[i].ev, h[j].ev) {
		return true
	}
	if eventLess(h[j].ev, h[i].ev) {
		return false
	}
	return h[i].src < h[j].src
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	*h = old[:n-1]
	return x
}
