package events

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// MaxRecordBytes bounds one record's encoded size. CloudTrail itself
// truncates large payloads and EventBridge events are at most 256 KB, so a
// larger record is hostile or corrupt: it is skipped, and never held in
// memory beyond this bound.
const MaxRecordBytes = 1 << 20

// Decoder turns one input stream into records, reporting skips. It detects
// the format from the content, not the name.
type Decoder struct {
	// Record receives each decoded record. The record is owned by the
	// callee.
	Record func(*Record)
	// Skip receives each skipped record or file with its reason.
	Skip func(reason SkipReason, detail string)
	// Read counts entries seen (records and skipped entries).
	Read func()

	buf    []byte
	intern map[string]string
}

// Decode reads all records from r. It returns an error only when reading
// the underlying input fails; decoding problems are reported through Skip.
func (d *Decoder) Decode(r io.Reader) error {
	br := getBufReader(r)
	defer putBufReader(br)
	var src *bufio.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := getGzipReader(br)
		if err != nil {
			d.skip(SkipCorruptGzip, err.Error())
			return nil
		}
		defer gzipReaders.Put(zr)
		src = getBufReader(zr)
		defer putBufReader(src)
	}
	err := d.decodePlain(src)
	if err != nil && src != br {
		// The compressed stream is corrupt or truncated: what was decoded
		// before stands, the rest of the file is one counted skip.
		d.skip(SkipCorruptGzip, shortErr(err))
		return nil
	}
	return err
}

// An archive holds thousands of small files: the read buffers and gzip
// readers (about 45 KB of window and tables) serve one file after another
// instead of being allocated and cleared for each.
var (
	bufReaders  sync.Pool // *bufio.Reader of 64 KB
	gzipReaders sync.Pool // *gzip.Reader
)

func getBufReader(r io.Reader) *bufio.Reader {
	if br, ok := bufReaders.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, 64<<10)
}

// putBufReader returns br to the pool, without its reader.
func putBufReader(br *bufio.Reader) {
	br.Reset(nil)
	bufReaders.Put(br)
}

// getGzipReader returns a gzip reader of r from the pool; put it back
// after use (and not after an error here).
func getGzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipReaders.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

var containerKeys = [][]byte{[]byte(`"Records"`), []byte(`"Messages"`)}

func (d *Decoder) decodePlain(br *bufio.Reader) error {
	first, err := skipSpace(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	switch first {
	case '{':
		peek, _ := br.Peek(256)
		if isContainer(peek) {
			return d.decodeContainer(br)
		}
		return d.decodeLines(br)
	case '[':
		if _, err := br.ReadByte(); err != nil {
			return err
		}
		return d.decodeArray(br)
	default:
		d.skip(SkipBinary, fmt.Sprintf("input starts with byte 0x%02x", first))
		return nil
	}
}

// isContainer reports whether the object at the start of peek opens with a
// "Records" or "Messages" array: a CloudTrail S3 file, a Lambda SQS event or
// an `aws sqs receive-message` answer.
func isContainer(peek []byte) bool {
	p := bytes.TrimLeft(peek, " \t\r\n")
	if len(p) == 0 || p[0] != '{' {
		return false
	}
	p = bytes.TrimLeft(p[1:], " \t\r\n")
	for _, k := range containerKeys {
		if rest, ok := bytes.CutPrefix(p, k); ok {
			rest = bytes.TrimLeft(rest, " \t\r\n")
			if rest, ok = bytes.CutPrefix(rest, []byte(":")); ok {
				rest = bytes.TrimLeft(rest, " \t\r\n")
				return len(rest) > 0 && rest[0] == '['
			}
		}
	}
	return false
}

func skipSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xEF: // UTF-8 byte order mark
			if p, _ := br.Peek(2); bytes.Equal(p, []byte{0xBB, 0xBF}) {
				br.Discard(2)
				continue
			}
		}
		return b, br.UnreadByte()
	}
}

// decodeContainer reads {"Records":[ {...}, ... ]} element by element.
func (d *Decoder) decodeContainer(br *bufio.Reader) error {
	// Consume up to and including the '[' that opens the array.
	for {
		b, err := br.ReadByte()
		if err != nil {
			if err == io.EOF {
				d.skip(SkipMalformed, "truncated file")
				return nil
			}
			return err
		}
		if b == '[' {
			break
		}
	}
	return d.decodeArray(br)
}

// decodeArray reads array elements after the opening '['. Each element is
// scanned to its end with bounded memory, so a malformed or oversized
// element is skipped and the next one is still read.
func (d *Decoder) decodeArray(br *bufio.Reader) error {
	for {
		b, err := skipSpace(br)
		if err == io.EOF {
			d.skip(SkipMalformed, "truncated array")
			return nil
		}
		if err != nil {
			return err
		}
		br.ReadByte()
		switch b {
		case ',':
			continue
		case ']':
			return nil
		case '{':
			elem, tooLarge, err := d.scanObject(br)
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				d.count()
				d.skip(SkipMalformed, "truncated record")
				return nil
			}
			if err != nil {
				return err
			}
			d.count()
			if tooLarge {
				d.skip(SkipTooLarge, fmt.Sprintf("record over %d bytes", MaxRecordBytes))
				continue
			}
			d.decodeItem(elem, 0)
		default:
			d.count()
			d.skip(SkipMalformed, fmt.Sprintf("unexpected byte %q in array", b))
			// Resynchronize at the next element boundary.
			if err := skipTo(br, ','); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	}
}

func skipTo(br *bufio.Reader, c byte) error {
	_, err := br.ReadSlice(c)
	for err == bufio.ErrBufferFull {
		_, err = br.ReadSlice(c)
	}
	return err
}

// scanObject reads one JSON object whose '{' was already consumed, keeping
// at most MaxRecordBytes of it.
func (d *Decoder) scanObject(br *bufio.Reader) (elem []byte, tooLarge bool, err error) {
	buf := append(d.buf[:0], '{')
	depth := 1
	inStr, esc := false, false
	for depth > 0 {
		chunk, _ := br.Peek(br.Buffered())
		if len(chunk) == 0 {
			if _, rerr := br.Peek(1); rerr != nil {
				d.buf = buf
				if rerr == io.EOF {
					return nil, false, io.ErrUnexpectedEOF
				}
				return nil, false, rerr
			}
			continue
		}
		i := 0
		for ; i < len(chunk) && depth > 0; i++ {
			c := chunk[i]
			if inStr {
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
		if !tooLarge {
			if len(buf)+i > MaxRecordBytes {
				tooLarge = true
			} else {
				buf = append(buf, chunk[:i]...)
			}
		}
		br.Discard(i)
	}
	d.buf = buf
	return buf, tooLarge, nil
}

// decodeLines reads JSON Lines with bounded memory per line.
func (d *Decoder) decodeLines(br *bufio.Reader) error {
	for {
		line, tooLarge, err := d.readLine(br)
		if err != nil && err != io.EOF {
			// A read error (a corrupt gzip stream) cuts the line: the
			// caller counts the failure once.
			return err
		}
		if len(bytes.TrimSpace(line)) > 0 || tooLarge {
			d.count()
			if tooLarge {
				d.skip(SkipTooLarge, fmt.Sprintf("line over %d bytes", MaxRecordBytes))
			} else {
				d.decodeItem(line, 0)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (d *Decoder) readLine(br *bufio.Reader) (line []byte, tooLarge bool, err error) {
	buf := d.buf[:0]
	for {
		chunk, rerr := br.ReadSlice('\n')
		if !tooLarge {
			if len(buf)+len(chunk) > MaxRecordBytes {
				tooLarge = true
				buf = buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if rerr == bufio.ErrBufferFull {
			continue
		}
		d.buf = buf
		return buf, tooLarge, rerr
	}
}

// item is any one JSON object we accept: a CloudTrail record, an
// EventBridge envelope, an SQS message (Lambda's or the SQS API's shape) or
// an SNS notification.
type item struct {
	Record
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Detail     json.RawMessage `json:"detail"`
	Body       *string         `json:"body"`
	BodyAPI    *string         `json:"Body"`
	Message    *string         `json:"Message"`
}

// decodeItem decodes one object, unwrapping envelopes up to a small depth.
func (d *Decoder) decodeItem(b []byte, depth int) {
	var it item
	sc := scanner{b: b, intern: d.intern}
	if err := sc.scanItem(&it); err != nil {
		// The fast scanner is exact on valid input; encoding/json has
		// the last word on anything it rejects.
		it = item{}
		if err := json.Unmarshal(b, &it); err != nil {
			d.skip(SkipMalformed, shortErr(err))
			return
		}
	}
	d.intern = sc.intern
	switch {
	case it.Body != nil || it.BodyAPI != nil || it.Message != nil:
		if depth >= 3 {
			d.skip(SkipNotRecord, "envelopes nested too deep")
			return
		}
		body := it.Body
		if body == nil {
			body = it.BodyAPI
		}
		if body == nil {
			body = it.Message
		}
		d.decodeItem([]byte(*body), depth+1)
		return
	case it.DetailType != "":
		switch it.DetailType {
		case "AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", "AWS Service Event via CloudTrail":
		default:
			d.skip(SkipDetailType, truncate(it.DetailType, 64))
			return
		}
		if len(it.Detail) == 0 || it.Detail[0] != '{' {
			d.skip(SkipNotRecord, "envelope without detail object")
			return
		}
		rec := new(Record)
		if err := scanRecord(it.Detail, rec, d.intern); err != nil {
			*rec = Record{}
			if err := json.Unmarshal(it.Detail, rec); err != nil {
				d.skip(SkipMalformed, shortErr(err))
				return
			}
		}
		// The envelope's source says who put the event: CloudTrail
		// (aws.*, which no one else may use) or a PutEvents caller.
		rec.Envelope = Envelope{Source: it.Source, Account: it.Account}
		d.Record(rec)
		return
	}
	if it.EventName == "" && it.EventSource == "" && it.EventTime == "" && it.UserIdentity.Type == "" {
		d.skip(SkipNotRecord, "object has no CloudTrail fields")
		return
	}
	rec := it.Record
	d.Record(&rec)
}

func (d *Decoder) skip(reason SkipReason, detail string) {
	if d.Skip != nil {
		d.Skip(reason, detail)
	}
}

func (d *Decoder) count() {
	if d.Read != nil {
		d.Read()
	}
}

func shortErr(err error) string {
	return truncate(err.Error(), 120)
}
