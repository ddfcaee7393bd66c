package files

import (
	"bufio"
	"context"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/sink"
	"github.com/bintap/bintap/internal/sink/file"
)

// File names inside DIR.
const (
	ManifestName = "_manifest.jsonl"
	stateName    = "_state.json"
	openDir      = "_open"
	lockName     = "_lock"
)

// newChecksum is the checksum of closed files: CRC-32C (Castagnoli), the
// integrity check of cloud object stores, computed by the CPU's CRC32
// instruction at many GB/s.
func newChecksum() hash.Hash32 { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }

// fileBuffer is the write buffer of each open file: a window may have a
// file open for every captured table.
const fileBuffer = 64 << 10

// idleGrace is how long past a window's end an idle stream waits before it
// closes the window (the window's length when that is shorter).
const idleGrace = 10 * time.Second

// Destination writes the files output. Write, Flush, Idle and Close run on
// the pipeline's goroutine; Status and Counts on any; the converter
// goroutine writes Parquet files of closed windows.
type Destination struct {
	dir  string
	opt  Options
	zone string
	log  *slog.Logger
	lock *os.File
	disk *disk

	cur   time.Time   // the open window: the newest one begun
	files []*openFile // the open files, in the order they were begun
	// lastCP is the newest checkpoint handed in; loose says events without
	// one came after it (snapshot rows), so it does not cover everything.
	lastCP position.Checkpoint
	loose  bool
	saved  *position.Checkpoint // the position in _state.json
	buf    []byte
	// idle: the source said it reached the binlog's end after the newest
	// change; lastEvent is when that change came in.
	idle      bool
	lastEvent time.Time

	// Parquet files are written from their spools on another goroutine
	// (converter), one window close (job) after the other, so the stream
	// goes on meanwhile; until a job's result is committed its files stay
	// open in _state.json.
	jobs    chan []*openFile
	results chan convResult
	pending int // jobs handed over, not collected

	mu        sync.Mutex // guards what Status and Counts read
	records   uint64
	bytes     uint64
	closed    uint64 // files closed
	lastClose time.Time
}

// openFile is one file of an open window: its spool in _open and where it
// goes when the window closes.
type openFile struct {
	converting bool // its window closed; the converter writes its Parquet file
	disk       *disk
	st         fileState
	table      *change.Table
	f          *os.File
	buf        []byte    // bytes not written to f yet
	hash       hash.Hash // of the bytes (text formats)
	// the newest record's position (st.Last is made from it when needed)
	lastTx   *change.Tx
	lastNum  uint64
	lastRead bool
}

// fileState is what _state.json records of an open file.
type fileState struct {
	Spool    string        `json:"spool"` // name in _open
	Name     string        `json:"name"`  // final path relative to DIR
	Table    *change.Table `json:"table"`
	Window   time.Time     `json:"window"`
	Size     int64         `json:"size"` // bytes written (durable up to the recorded size)
	Hash     []byte        `json:"hash,omitempty"`
	Rows     int64         `json:"rows"`
	First    string        `json:"first"`
	Last     string        `json:"last"`
	MinOrder int64         `json:"min_order"`
	MaxOrder int64         `json:"max_order"`
}

// closing is a file being closed: its spool (or finished Parquet file) in
// _open becomes Entry.File, and Entry goes into the manifest.
type closing struct {
	From  string `json:"from"`
	Entry Entry  `json:"entry"`
}

// state is _state.json.
type state struct {
	Checkpoint *position.Checkpoint `json:"checkpoint,omitempty"`
	Window     time.Time            `json:"window"`
	Open       []fileState          `json:"open"`
	Closing    []closing            `json:"closing,omitempty"`
}

// New opens the files output in dir: it finishes a window close a crash
// interrupted, cuts the open files back to what the recorded position
// covers, and removes what no state refers to.
func New(dir string, opt Options, zone *time.Location, log *slog.Logger) (*Destination, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if zone == nil {
		zone = time.UTC
	}
	if err := os.MkdirAll(filepath.Join(dir, openDir), 0o755); err != nil {
		return nil, errorf("create %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, errorf("%w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, errorf("another bintap writes into %s (its %s is locked)", dir, lockName)
	}
	if err := position.RemoveTemporaries(dir); err != nil { // a killed writer's copy of _state.json
		lock.Close()
		return nil, errorf("%w", err)
	}
	d := &Destination{dir: dir, opt: opt, zone: zone.String(), log: log, lock: lock, lastEvent: time.Now(), disk: newDisk()}
	if err := d.recover(); err != nil {
		d.disk.close()
		lock.Close()
		return nil, err
	}
	return d, nil
}

func (d *Destination) path(name string) string { return filepath.Join(d.dir, filepath.FromSlash(name)) }

// recover brings DIR to the state _state.json records.
func (d *Destination) recover() error {
	raw, err := os.ReadFile(d.path(stateName))
	var st state
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return errorf("%w", err)
	default:
		if err := json.Unmarshal(raw, &st); err != nil {
			return errorf("%s is damaged (%v): restore it, or start over with --reset", d.path(stateName), err)
		}
	}
	if err := d.finishClosing(st.Closing); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, fs := range st.Open {
		of, err := d.reopen(fs)
		if err != nil {
			return err
		}
		d.files = append(d.files, of)
		keep[fs.Spool] = true
	}
	entries, err := os.ReadDir(d.path(openDir))
	if err != nil {
		return errorf("%w", err)
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.Remove(filepath.Join(d.path(openDir), e.Name())); err != nil {
				return errorf("%w", err)
			}
		}
	}
	d.cur, d.saved = st.Window, st.Checkpoint
	if st.Checkpoint != nil {
		d.lastCP = *st.Checkpoint
	}
	return nil
}

// reopen continues an open file, cut back to its recorded size.
func (d *Destination) reopen(fs fileState) (*openFile, error) {
	p := filepath.Join(d.path(openDir), fs.Spool)
	f, err := os.OpenFile(p, os.O_RDWR, 0o644)
	if err != nil {
		return nil, errorf("the open file %s that %s records is gone (%v): start over with --reset", p, stateName, err)
	}
	if err := f.Truncate(fs.Size); err != nil {
		f.Close()
		return nil, errorf("%w", err)
	}
	if _, err := f.Seek(fs.Size, io.SeekStart); err != nil {
		f.Close()
		return nil, errorf("%w", err)
	}
	of := &openFile{st: fs, table: fs.Table, f: f, disk: d.disk}
	if d.opt.Format != "parquet" {
		of.hash = newChecksum()
		if err := of.hash.(encoding.BinaryUnmarshaler).UnmarshalBinary(fs.Hash); err != nil {
			f.Close()
			return nil, errorf("%s: the checksum state of %s: %w", stateName, fs.Name, err)
		}
	}
	return of, nil
}

// Position returns the position the closed and open files cover.
func (d *Destination) Position(context.Context) (*position.Checkpoint, error) {
	return d.saved, nil
}

// Reset forgets the position and the open files (--reset). Closed files
// and the manifest stay.
func (d *Destination) Reset(context.Context) error {
	for _, f := range d.files {
		f.f.Close()
	}
	d.files, d.cur, d.saved, d.lastCP, d.loose = nil, time.Time{}, nil, position.Checkpoint{}, false
	if err := os.RemoveAll(d.path(openDir)); err != nil {
		return errorf("%w", err)
	}
	if err := os.Remove(d.path(stateName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errorf("%w", err)
	}
	return os.MkdirAll(d.path(openDir), 0o755)
}

// Write adds the changes of one batch to the files of their windows, and
// closes the windows the stream has passed once a checkpoint covers them.
func (d *Destination) Write(ctx context.Context, events []change.Event, cp position.Checkpoint) error {
	n := 0
	for i := range events {
		ev := &events[i]
		if ev.Table == nil || ev.Tx == nil {
			continue
		}
		if w := windowOf(ev.Tx.Timestamp, d.opt.Window); d.cur.IsZero() || w.After(d.cur) {
			d.cur = w // a transaction of an earlier window stays in the open one
		}
		var of *openFile
		if err := change.Rows(ev, func(m change.Meta, row []change.Value) error {
			if of == nil { // a schema change or heartbeat has no rows: no file for it
				var err error
				if of, err = d.file(ev); err != nil {
					return err
				}
			}
			n++
			return d.add(of, ev, m, row)
		}); err != nil {
			return err
		}
	}
	if n > 0 {
		d.lastEvent, d.idle = time.Now(), false
		d.mu.Lock()
		d.records += uint64(n)
		d.mu.Unlock()
	}
	switch {
	case cp.File != "":
		d.lastCP, d.loose = cp, false
	case n > 0:
		d.loose = true
	}
	return d.closeWindows(false)
}

// Idle closes the open window when the clock has passed its end: the
// source has reached the end of its binlog.
func (d *Destination) Idle(context.Context) error {
	d.idle = true
	return d.closeWindows(false)
}

// closeWindows closes the files of windows before the open one if a
// checkpoint covers everything written; and those of the open one too once
// the clock has passed its end by the grace, when the source is idle or no
// change came for a window and idleGrace (changes of tables that are not
// captured move no window).
func (d *Destination) closeWindows(flush bool) error {
	if err := d.collect(false); err != nil {
		return err
	}
	if d.loose || d.lastCP.File == "" {
		if flush {
			return d.commit(nil)
		}
		return nil
	}
	var done []*openFile
	now := time.Now()
	grace := min(idleGrace, d.opt.Window)
	idle := !d.cur.IsZero() && now.After(d.cur.Add(d.opt.Window+grace)) &&
		(d.idle || now.Sub(d.lastEvent) > d.opt.Window+idleGrace)
	for _, f := range d.files {
		if !f.converting && (f.st.Window.Before(d.cur) || idle) {
			done = append(done, f)
		}
	}
	if idle {
		// Whatever comes now is stamped after the window just closed.
		d.cur = windowOf(uint32(now.Add(-grace).Unix()), d.opt.Window)
	}
	if len(done) == 0 && !flush {
		return nil
	}
	return d.commit(done)
}

// Flush makes every record written so far durable, with the position that
// covers it.
func (d *Destination) Flush(context.Context) error { return d.closeWindows(true) }

// Close flushes and releases the directory. Open windows stay open: the
// next start continues them.
func (d *Destination) Close(ctx context.Context) error {
	err := d.Flush(ctx)
	if d.jobs != nil {
		close(d.jobs)
		if cerr := d.collect(true); err == nil {
			err = cerr
		}
	}
	for _, f := range d.files {
		if cerr := f.f.Close(); err == nil {
			err = cerr
		}
	}
	d.files = nil
	d.disk.close()
	d.lock.Close()
	return err
}

// file returns the open file of an event's table version in the open
// window, beginning one when there is none.
func (d *Destination) file(ev *change.Event) (*openFile, error) {
	for i := len(d.files) - 1; i >= 0; i-- {
		f := d.files[i]
		if f.st.Window.Equal(d.cur) && (f.table == ev.Table || sameVersion(f.table, ev.Table)) {
			f.table = ev.Table
			return f, nil
		}
	}
	t := ev.Table
	first := positionText(ev)
	base := d.cur.Format("150405") + "_" + strings.NewReplacer(":", "_", "#", "_").Replace(first) + "." + d.opt.ext()
	name := pathPart(t.Schema) + "/" + pathPart(t.Name) + "/" + d.cur.Format("2006-01-02") + "/" + base
	spool := pathPart(t.Schema) + "." + pathPart(t.Name) + "." + base
	if d.opt.Format == "parquet" {
		spool += ".spool"
	}
	f, err := os.OpenFile(filepath.Join(d.path(openDir), spool), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, errorf("%w", err)
	}
	of := &openFile{table: t, f: f, disk: d.disk, st: fileState{Spool: spool, Name: name, Table: t, Window: d.cur, First: first}}
	d.files = append(d.files, of)
	switch d.opt.Format {
	case "csv":
		of.hash = newChecksum()
		of.buf = appendCSVHeader(of.buf, t)
		of.st.Size = int64(len(of.buf))
	case "jsonl":
		of.hash = newChecksum()
	}
	return of, nil
}

// sameVersion reports whether two definitions are the same table version
// (after a restart the stream's definitions are new values).
func sameVersion(a, b *change.Table) bool {
	return a.Schema == b.Schema && a.Name == b.Name && a.Version == b.Version && len(a.Columns) == len(b.Columns)
}

// pathPart makes a database or table name safe as one path element.
func pathPart(s string) string {
	if s == "" || s == "." || s == ".." {
		return "_" + s
	}
	return strings.NewReplacer("/", "%2F", "\\", "%5C", "\x00", "%00").Replace(s)
}

// positionText is an event's position: FILE:POS#N, or FILE:POS#rN for a
// snapshot read.
func positionText(ev *change.Event) string {
	return formatPosition(ev.Tx, ev.EventNumber, ev.Op == change.OpRead)
}

func formatPosition(tx *change.Tx, num uint64, read bool) string {
	s := tx.File + ":" + strconv.FormatUint(uint64(tx.Pos), 10) + "#"
	if read {
		s += "r"
	}
	return s + strconv.FormatUint(num, 10)
}

// add appends one record to an open file.
func (d *Destination) add(of *openFile, ev *change.Event, m change.Meta, row []change.Value) error {
	r := Record{Meta: m, Row: row}
	n := len(of.buf)
	switch d.opt.Format {
	case "jsonl":
		of.buf = appendJSONRecord(of.buf, of.table, &r, d.opt.binary())
	case "csv":
		of.buf = appendCSVRecord(of.buf, of.table, &r, d.opt.binary())
	default:
		of.buf = appendSpoolRecord(of.buf, &r)
	}
	st := &of.st
	st.Size += int64(len(of.buf) - n)
	if st.Rows == 0 || m.Order < st.MinOrder {
		st.MinOrder = m.Order
	}
	if st.Rows == 0 || m.Order > st.MaxOrder {
		st.MaxOrder = m.Order
	}
	st.Rows++
	of.lastTx, of.lastNum, of.lastRead = ev.Tx, ev.EventNumber, ev.Op == change.OpRead
	if len(of.buf) >= fileBuffer {
		of.write()
	}
	return nil
}

// write hands the buffered bytes to the file.
func (of *openFile) write() {
	if len(of.buf) == 0 {
		return
	}
	of.disk.reqs <- diskReq{f: of, chunk: of.buf}
	of.buf = of.disk.buffer()
}

// sync makes an open file durable up to its size.
func (of *openFile) sync() error {
	of.write()
	if of.lastTx != nil {
		of.st.Last = formatPosition(of.lastTx, of.lastNum, of.lastRead)
	}
	done := make(chan error, 1)
	of.disk.reqs <- diskReq{f: of, done: done}
	return <-done
}

// commit makes the open files durable and records them with the newest
// checkpoint; the files in done close: they are finished, recorded as
// closing, renamed to their names, and listed in the manifest.
func (d *Destination) commit(done []*openFile) error {
	if d.opt.Format == "parquet" && len(done) > 0 {
		return d.convert(done)
	}
	var cl []closing
	for _, f := range done {
		from, e, err := d.finish(f)
		if err != nil {
			return err
		}
		cl = append(cl, closing{From: from, Entry: e})
	}
	return d.record(done, cl)
}

// record writes _state.json with the newest checkpoint, every open file
// but those in done (synced first) and the closings cl; then it does what
// cl says.
func (d *Destination) record(done []*openFile, cl []closing) error {
	isDone := map[*openFile]bool{}
	for _, f := range done {
		isDone[f] = true
	}
	st := state{Window: d.cur, Open: []fileState{}, Closing: cl}
	if d.lastCP.File != "" {
		cp := d.lastCP
		st.Checkpoint = &cp
	}
	var still []*openFile
	for _, f := range d.files {
		if isDone[f] {
			continue
		}
		if !f.converting {
			if err := f.sync(); err != nil {
				return err
			}
		}
		st.Open = append(st.Open, f.st)
		still = append(still, f)
	}
	if err := d.writeState(st); err != nil {
		return err
	}
	d.files, d.saved = still, st.Checkpoint
	if len(cl) == 0 {
		return nil
	}
	if err := d.finishClosing(cl); err != nil {
		return err
	}
	d.mu.Lock()
	d.closed += uint64(len(cl))
	for _, c := range cl {
		d.bytes += uint64(c.Entry.Bytes)
	}
	d.lastClose = time.Now()
	d.mu.Unlock()
	for _, c := range cl {
		d.log.Info("file closed", "file", c.Entry.File, "rows", c.Entry.Rows, "window", c.Entry.WindowStart.Format(time.RFC3339))
	}
	return d.retain()
}

// convert hands the files of closed windows to the converter (waiting
// while it is a job behind) and records the open files meanwhile.
func (d *Destination) convert(done []*openFile) error {
	for _, f := range done {
		if err := f.sync(); err != nil {
			return err
		}
		f.converting = true
	}
	if d.jobs == nil {
		d.jobs, d.results = make(chan []*openFile, 1), make(chan convResult, 2)
		go d.converter(d.jobs, d.results)
	}
	d.jobs <- done
	d.pending++
	return d.record(nil, nil)
}

// convResult is a converted job: its files and their closings.
type convResult struct {
	files []*openFile
	cl    []closing
	err   error
}

// converter writes the Parquet files of each job, in order.
func (d *Destination) converter(jobs <-chan []*openFile, results chan<- convResult) {
	defer close(results)
	for job := range jobs {
		r := convResult{files: job}
		for _, f := range job {
			from, e, err := d.finish(f)
			if err != nil {
				r.err = err
				break
			}
			r.cl = append(r.cl, closing{From: from, Entry: e})
		}
		results <- r
	}
}

// collect commits the jobs the converter finished; with wait, all of them.
func (d *Destination) collect(wait bool) error {
	for d.pending > 0 {
		var r convResult
		if wait {
			r = <-d.results
		} else {
			select {
			case r = <-d.results:
			default:
				return nil
			}
		}
		d.pending--
		if r.err != nil {
			return r.err
		}
		if err := d.record(r.files, r.cl); err != nil {
			return err
		}
	}
	return nil
}

// writeState replaces _state.json.
func (d *Destination) writeState(st state) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return errorf("%w", err)
	}
	if err := position.WriteFileAtomic(d.path(stateName), append(raw, '\n')); err != nil {
		return errorf("%w", err)
	}
	return nil
}

// finish writes out an open file for good and returns where it lies in
// _open and its manifest entry.
func (d *Destination) finish(f *openFile) (string, Entry, error) {
	if !f.converting { // else synced before it was handed to the converter
		if err := f.sync(); err != nil {
			return "", Entry{}, err
		}
	}
	e := Entry{File: f.st.Name, Database: f.table.Schema, Table: f.table.Name, Version: f.table.Version, Format: d.opt.Format,
		WindowStart: f.st.Window, WindowEnd: f.st.Window.Add(d.opt.Window), Rows: f.st.Rows,
		FirstPosition: f.st.First, LastPosition: f.st.Last, MinOrder: f.st.MinOrder, MaxOrder: f.st.MaxOrder,
		Definition: f.table, TimeZone: d.zone, Binary: d.opt.Binary}
	from := f.st.Spool
	if d.opt.Format == "parquet" {
		var err error
		if from, e.Bytes, e.CRC32C, err = d.toParquet(f); err != nil {
			return "", e, err
		}
	} else {
		e.Bytes = f.st.Size
		e.CRC32C = hex.EncodeToString(f.hash.Sum(nil))
	}
	if err := f.f.Close(); err != nil {
		return "", e, errorf("%w", err)
	}
	return from, e, nil
}

// toParquet writes the Parquet file of a spool into _open and returns its
// name there, its size and checksum.
func (d *Destination) toParquet(f *openFile) (string, int64, string, error) {
	if _, err := f.f.Seek(0, io.SeekStart); err != nil {
		return "", 0, "", errorf("%w", err)
	}
	name := strings.TrimSuffix(f.st.Spool, ".spool")
	out, err := os.OpenFile(filepath.Join(d.path(openDir), name), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return "", 0, "", errorf("%w", err)
	}
	defer out.Close()
	h := newChecksum()
	cw := &countWriter{w: io.MultiWriter(out, h)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	sr := newSpoolReader(f.f, f.st.Size)
	if err := writeParquet(bw, f.table, sr.next); err != nil {
		return "", 0, "", errorf("%w", sink.FileError("write", out.Name(), err))
	}
	if err := bw.Flush(); err != nil {
		return "", 0, "", errorf("%w", sink.FileError("write", out.Name(), err))
	}
	if err := out.Sync(); err != nil {
		return "", 0, "", errorf("%w", sink.FileError("fsync", out.Name(), err))
	}
	return name, cw.n, hex.EncodeToString(h.Sum(nil)), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// finishClosing moves closing files to their names and lists them in the
// manifest; it is safe to repeat (after a crash in the middle).
func (d *Destination) finishClosing(cl []closing) error {
	if len(cl) == 0 {
		return nil
	}
	dirs := map[string]bool{}
	for _, c := range cl {
		from, to := filepath.Join(d.path(openDir), c.From), d.path(c.Entry.File)
		if _, err := os.Stat(from); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(to); err == nil {
				continue // moved before the crash
			}
			return errorf("%s records that %s becomes %s, but neither exists: start over with --reset", stateName, from, to)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return errorf("%w", err)
		}
		if err := os.Rename(from, to); err != nil {
			return errorf("%w", err)
		}
		dirs[filepath.Dir(to)] = true
	}
	dirs[d.path(openDir)] = true
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	// Parquet: the spools of finished files go too.
	for _, c := range cl {
		if strings.HasSuffix(c.From, ".parquet") {
			if err := os.Remove(filepath.Join(d.path(openDir), c.From+".spool")); err != nil && !errors.Is(err, os.ErrNotExist) {
				return errorf("%w", err)
			}
		}
	}
	return d.appendManifest(cl)
}

// appendManifest adds the entries of cl the manifest does not hold yet.
func (d *Destination) appendManifest(cl []closing) error {
	f, err := os.OpenFile(d.path(ManifestName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return errorf("%w", err)
	}
	defer f.Close()
	size, err := file.TrimPartial(f)
	if err != nil {
		return errorf("%s: %w", ManifestName, err)
	}
	have := map[string]bool{}
	if err := scanManifest(io.NewSectionReader(f, 0, size), func(e Entry) error { have[e.File] = true; return nil }); err != nil {
		return err
	}
	var out []byte
	for _, c := range cl {
		if have[c.Entry.File] {
			continue
		}
		raw, err := json.Marshal(c.Entry)
		if err != nil {
			return errorf("%w", err)
		}
		out = append(append(out, raw...), '\n')
	}
	if len(out) == 0 {
		return nil
	}
	if _, err := f.WriteAt(out, size); err != nil {
		return errorf("write %s: %w", ManifestName, err)
	}
	if err := f.Sync(); err != nil {
		return errorf("fsync %s: %w", ManifestName, err)
	}
	return nil
}

// retain deletes closed files whose window ended more than --file-retain ago.
func (d *Destination) retain() error {
	if d.opt.Retain <= 0 {
		return nil
	}
	cut := time.Now().Add(-d.opt.Retain)
	return ReadManifestFunc(d.dir, func(e Entry) error {
		if e.WindowEnd.Before(cut) {
			if err := os.Remove(d.path(e.File)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return errorf("--file-retain: %w", err)
			}
		}
		return nil
	})
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return errorf("%w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// Counts are the records written and the bytes of closed files.
func (d *Destination) Counts() (messages, bytes uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.records, d.bytes
}

// Status is the output's section of /status.
func (d *Destination) Status() any {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := map[string]any{"files_closed": d.closed, "window": d.opt.Window.String(), "format": d.opt.Format}
	if !d.lastClose.IsZero() {
		s["last_close"] = d.lastClose.UTC().Format(time.RFC3339)
	}
	return s
}
