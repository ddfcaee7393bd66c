package files

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
)

// ReadManifest returns every closed file of a files output's DIR, in the
// order they were closed (window order, then first position).
func ReadManifest(dir string) ([]Entry, error) {
	var es []Entry
	err := ReadManifestFunc(dir, func(e Entry) error { es = append(es, e); return nil })
	return es, err
}

// ReadManifestFunc calls fn for each closed file of DIR, in order.
func ReadManifestFunc(dir string, fn func(Entry) error) error {
	f, err := os.Open(pathIn(dir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s holds no %s: it is not the directory of a files output, or no window has closed yet", dir, ManifestName)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return scanManifest(f, fn)
}

func pathIn(dir, name string) string { return dir + string(os.PathSeparator) + name }

// scanManifest reads manifest lines; a last line cut short by a crash is
// not an entry yet.
func scanManifest(r io.Reader, fn func(Entry) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return nil // a line without its newline was cut short
		}
		if err != nil {
			return err
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("%s line %d is damaged: %w", ManifestName, n, err)
		}
		if e.Definition == nil || e.File == "" {
			return fmt.Errorf("%s line %d lacks its file or table definition", ManifestName, n)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// Read calls fn for every record of one closed file of DIR, in order, with
// values of the kinds the binlog decoder produces, so a database target
// merges them as it merges the stream. It checks the file's checksum first.
// The Row is valid only during fn.
func Read(dir string, e Entry, fn func(r *Record) error) error {
	p := pathIn(dir, e.File)
	raw, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	h := newChecksum()
	h.Write(raw)
	if hex.EncodeToString(h.Sum(nil)) != e.CRC32C || int64(len(raw)) != e.Bytes {
		return fmt.Errorf("%s: its size or checksum differs from the manifest's: the file was changed", p)
	}
	zone, err := time.LoadLocation(e.TimeZone)
	if err != nil || e.TimeZone == "" {
		zone = time.UTC
	}
	vr := valueReader{t: e.Definition, zone: zone, base64: e.Binary == "base64"}
	var n int64
	count := func(r *Record) error {
		n++
		if r.Op == 't' {
			r.Row = nil // a TRUNCATE has no row
		}
		return fn(r)
	}
	switch e.Format {
	case "jsonl":
		err = vr.jsonLines(raw, count)
	case "csv":
		err = vr.csv(raw, count)
	case "parquet":
		err = readParquet(bytes.NewReader(raw), int64(len(raw)), e.Definition, count)
	default:
		err = fmt.Errorf("unknown format %q", e.Format)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if n != e.Rows {
		return fmt.Errorf("%s: holds %d records, the manifest says %d", p, n, e.Rows)
	}
	return nil
}

// valueReader turns the text of values back into typed values.
type valueReader struct {
	t      *change.Table
	zone   *time.Location
	base64 bool
	kinds  []change.Kind
	row    []change.Value
	arena  []byte
}

func (vr *valueReader) init() {
	if vr.kinds == nil {
		for i := range vr.t.Columns {
			vr.kinds = append(vr.kinds, change.KindOf(&vr.t.Columns[i]))
		}
	}
	vr.row, vr.arena = vr.row[:0], vr.arena[:0]
}

func (vr *valueReader) jsonLines(raw []byte, fn func(*Record) error) error {
	var obj map[string]json.RawMessage
	for line := 1; len(raw) > 0; line++ {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return fmt.Errorf("line %d is cut short", line)
		}
		clear(obj)
		if err := json.Unmarshal(raw[:i], &obj); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		raw = raw[i+1:]
		var r Record
		if err := vr.jsonMeta(obj, &r.Meta); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		vr.init()
		for c := range vr.t.Columns {
			v, ok := obj[vr.t.Columns[c].Name]
			var val change.Value
			switch {
			case !ok:
				val.Kind = change.KindMissing
			case string(v) == "null":
			default:
				text := []byte(v)
				if v[0] == '"' {
					var s string
					if err := json.Unmarshal(v, &s); err != nil {
						return fmt.Errorf("line %d column %s: %w", line, vr.t.Columns[c].Name, err)
					}
					text = []byte(s)
				}
				var err error
				if val, err = vr.value(c, text); err != nil {
					return fmt.Errorf("line %d: %w", line, err)
				}
			}
			vr.row = append(vr.row, val)
		}
		if r.Op != 't' {
			r.Row = vr.row
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

func (vr *valueReader) jsonMeta(obj map[string]json.RawMessage, m *change.Meta) error {
	var op string
	var err error
	for _, f := range []struct {
		name string
		dst  any
	}{{"__op", &op}, {"__deleted", &m.Deleted}, {"__ts_ms", &m.TsMs}, {"__transaction_id", &m.TxID}, {"__transaction_order", &m.Order}, {"__event_number", &m.Event}} {
		v, ok := obj[f.name]
		if !ok {
			return fmt.Errorf("%s is missing", f.name)
		}
		if err = json.Unmarshal(v, f.dst); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return setOp(m, op)
}

// csv reads a CSV file: the header, then one record a line.
func (vr *valueReader) csv(raw []byte, fn func(*Record) error) error {
	var fields [][]byte
	var quoted []bool
	var err error
	fields, quoted, raw, err = csvLine(raw, fields, quoted)
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if len(fields) != len(vr.t.Columns)+len(metaNames) {
		return fmt.Errorf("the header has %d fields, the table %d columns and %d metadata fields", len(fields), len(vr.t.Columns), len(metaNames))
	}
	for line := 2; len(raw) > 0; line++ {
		if fields, quoted, raw, err = csvLine(raw, fields[:0], quoted[:0]); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		nc := len(vr.t.Columns)
		if len(fields) != nc+len(metaNames) {
			return fmt.Errorf("line %d has %d fields, the header %d", line, len(fields), nc+len(metaNames))
		}
		var r Record
		if err := csvMeta(fields[nc:], &r.Meta); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		vr.init()
		for c := 0; c < nc; c++ {
			var v change.Value
			switch {
			case !quoted[c] && string(fields[c]) == csvNull:
			case !quoted[c] && len(fields[c]) == 0:
				v.Kind = change.KindMissing
			default:
				if v, err = vr.value(c, fields[c]); err != nil {
					return fmt.Errorf("line %d: %w", line, err)
				}
			}
			vr.row = append(vr.row, v)
		}
		if r.Op != 't' {
			r.Row = vr.row
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

func csvMeta(f [][]byte, m *change.Meta) error {
	var err error
	if err = setOp(m, string(f[0])); err != nil {
		return err
	}
	if m.Deleted, err = strconv.ParseBool(string(f[1])); err != nil {
		return fmt.Errorf("__deleted: %w", err)
	}
	if m.TsMs, err = strconv.ParseInt(string(f[2]), 10, 64); err != nil {
		return fmt.Errorf("__ts_ms: %w", err)
	}
	m.TxID = string(f[3])
	if m.Order, err = strconv.ParseInt(string(f[4]), 10, 64); err != nil {
		return fmt.Errorf("__transaction_order: %w", err)
	}
	if m.Event, err = strconv.ParseUint(string(f[5]), 10, 64); err != nil {
		return fmt.Errorf("__event_number: %w", err)
	}
	return nil
}

// csvLine splits the first line of raw into fields (RFC 4180: quoted fields
// may hold commas, quotes doubled and line ends) and returns the rest.
func csvLine(raw []byte, fields [][]byte, quoted []bool) ([][]byte, []bool, []byte, error) {
	for {
		if len(raw) > 0 && raw[0] == '"' {
			var f []byte
			i := 1
			for {
				j := bytes.IndexByte(raw[i:], '"')
				if j < 0 {
					return nil, nil, nil, errors.New("a quoted field does not end")
				}
				f = append(f, raw[i:i+j]...)
				i += j + 1
				if i < len(raw) && raw[i] == '"' {
					f = append(f, '"')
					i++
					continue
				}
				break
			}
			if f == nil {
				f = []byte{}
			}
			fields, quoted, raw = append(fields, f), append(quoted, true), raw[i:]
		} else {
			j := bytes.IndexAny(raw, ",\n")
			if j < 0 {
				return nil, nil, nil, errors.New("the line does not end")
			}
			fields, quoted, raw = append(fields, raw[:j]), append(quoted, false), raw[j:]
		}
		if len(raw) == 0 {
			return nil, nil, nil, errors.New("the line does not end")
		}
		c := raw[0]
		raw = raw[1:]
		switch c {
		case '\n':
			return fields, quoted, raw, nil
		case ',':
		default:
			return nil, nil, nil, errors.New("a quoted field is followed by more than a comma")
		}
	}
}

// setOp sets a record's operation from its text.
func setOp(m *change.Meta, op string) error {
	if len(op) != 1 || !strings.Contains("cudrt", op) {
		return fmt.Errorf("__op %q is not one of c, u, d, r, t", op)
	}
	m.Op = op[0]
	return nil
}

// value converts the text of column c (a JSON string already unquoted)
// into a value of the column's kind.
func (vr *valueReader) value(c int, text []byte) (change.Value, error) {
	col := &vr.t.Columns[c]
	k := vr.kinds[c]
	v := change.Value{Kind: k}
	var err error
	switch k {
	case change.KindInt, change.KindYear:
		v.Int, err = strconv.ParseInt(string(text), 10, 64)
	case change.KindUint, change.KindBit:
		v.Uint, err = strconv.ParseUint(string(text), 10, 64)
	case change.KindFloat:
		v.Float, err = strconv.ParseFloat(string(text), 32)
	case change.KindDouble:
		v.Float, err = strconv.ParseFloat(string(text), 64)
	case change.KindBytes:
		v.Text, err = vr.binary(text)
	case change.KindTimestamp:
		v.Text = vr.keep(text)
		v.Int, v.Uint, err = vr.timestamp(string(text))
	case change.KindEnum:
		v.Text = vr.keep(text)
		for i, m := range col.Members {
			if m == string(text) {
				v.Int = int64(i + 1)
			}
		}
	case change.KindSet:
		v.Text = vr.keep(text)
		if len(text) > 0 {
			for _, s := range strings.Split(string(text), ",") {
				for i, m := range col.Members {
					if m == s {
						v.Uint |= 1 << i
					}
				}
			}
		}
	case change.KindNull:
		return v, fmt.Errorf("column %s: type %s is not known", col.Name, col.Type)
	default:
		v.Text = vr.keep(text)
	}
	if err != nil {
		return v, fmt.Errorf("column %s: %q is not a %s value: %w", col.Name, text, col.Type, err)
	}
	return v, nil
}

// keep copies text into the row's arena.
func (vr *valueReader) keep(text []byte) []byte {
	s := len(vr.arena)
	vr.arena = append(vr.arena, text...)
	return vr.arena[s:len(vr.arena):len(vr.arena)]
}

func (vr *valueReader) binary(text []byte) ([]byte, error) {
	var out []byte
	var err error
	if vr.base64 {
		out = make([]byte, base64.StdEncoding.DecodedLen(len(text)))
		var n int
		n, err = base64.StdEncoding.Decode(out, text)
		out = out[:n]
	} else {
		out = make([]byte, hex.DecodedLen(len(text)))
		_, err = hex.Decode(out, text)
	}
	return out, err
}

// timestamp reads a TIMESTAMP's text in the file's zone: UNIX seconds and
// microseconds since the epoch (0, 0 for the zero TIMESTAMP).
func (vr *valueReader) timestamp(s string) (int64, uint64, error) {
	if strings.HasPrefix(s, "0000-00-00") {
		return 0, 0, nil
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, vr.zone)
	if err != nil {
		return 0, 0, err
	}
	return t.Unix(), uint64(t.UnixMicro()), nil
}
