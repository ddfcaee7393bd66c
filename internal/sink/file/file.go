// Package file is the output file:///DIR: encoded records appended to files
// in a directory, rotated by size, handed to the OS as soon as the stream
// has nothing more ready and fsynced before a checkpoint covers them. Files
// are named changes-000001.jsonl, changes-000002.jsonl, ...
package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/sink"
)

func init() {
	sink.Register(sink.Kind{
		Name:  "file",
		Form:  "file:///DIR",
		Match: func(spec string) bool { return strings.HasPrefix(spec, "file://") },
		Options: []sink.Option{{Name: "file-max-bytes", Default: "134217728", Usage: "file output: rotate a file when it reaches this size in bytes",
			Check: func(v string) error { _, err := parseMaxBytes(v); return err }}},
		Parse: func(spec string, s sink.Settings) (sink.Output, error) {
			dir := strings.TrimPrefix(spec, "file://")
			if dir == "" {
				return nil, errors.New("file output needs a directory: file:///path/to/dir")
			}
			if host, _, _ := strings.Cut(dir, "/"); strings.Contains(host, "@") {
				// Never echo the part before '@': it may be a password.
				return nil, errors.New("file output takes a directory, not a user or host: file:///path/to/dir")
			}
			max, err := parseMaxBytes(s.Get("file-max-bytes"))
			if err != nil {
				return nil, err
			}
			return output{dir: dir, max: max}, nil
		},
	})
}

func parseMaxBytes(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1024 {
		return 0, errors.New("accepted values are integers of at least 1024")
	}
	return n, nil
}

type output struct {
	dir string
	max int64
}

func (o output) Name() string { return "file://" + o.dir }

func (o output) Open(_ context.Context, env sink.Env) (pipeline.Destination, error) {
	enc, err := env.NewEncoder()
	if err != nil {
		return nil, err
	}
	s, err := New(o.dir, o.max)
	if err != nil {
		return nil, err
	}
	return &pipeline.Lines{Encoder: enc, Sink: s}, nil
}

// Sink appends records to rotated files in a directory.
type Sink struct {
	dir  string
	max  int64
	seq  int
	f    *os.File
	w    *bufio.Writer
	size int64
}

const prefix, suffix = "changes-", ".jsonl"

// New opens dir (creating it) and continues the newest file in it. A record
// cut short by a crash at the end of that file is removed first.
func New(dir string, maxBytes int64) (*Sink, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file output: create %s: %w", dir, err)
	}
	s := &Sink{dir: dir, max: maxBytes, seq: 1}
	if seqs, err := existing(dir); err != nil {
		return nil, err
	} else if len(seqs) > 0 {
		s.seq = seqs[len(seqs)-1]
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func existing(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("file output: read %s: %w", dir, err)
	}
	var seqs []int
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) {
			if k, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(n, prefix), suffix)); err == nil {
				seqs = append(seqs, k)
			}
		}
	}
	sort.Ints(seqs)
	return seqs, nil
}

// Path is the file currently written.
func (s *Sink) Path() string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%06d%s", prefix, s.seq, suffix))
}

func (s *Sink) open() error {
	f, err := os.OpenFile(s.Path(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	size, err := TrimPartial(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("file output: %s: %w", s.Path(), err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	s.f, s.size = f, size
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, 1<<20)
	} else {
		s.w.Reset(f)
	}
	return nil
}

// TrimPartial cuts a file back to its last newline and returns the new size.
func TrimPartial(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end != size {
		if err := f.Truncate(end); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// Write appends whole records, starting a new file first when this one is full.
func (s *Sink) Write(p []byte) error {
	if s.size > 0 && s.size+int64(len(p)) > s.max {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	n, err := s.w.Write(p)
	s.size += int64(n)
	return err
}

func (s *Sink) rotate() error {
	if err := s.sync(); err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	s.seq++
	return s.open()
}

func (s *Sink) sync() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("file output: %w", sink.FileError("write", s.Path(), err))
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("file output: %w", sink.FileError("fsync", s.Path(), err))
	}
	return nil
}

// Push hands the buffered records to the OS (readers of the file see them)
// without waiting for the disk.
func (s *Sink) Push() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("file output: %w", sink.FileError("write", s.Path(), err))
	}
	return nil
}

// Flush makes every record written so far durable.
func (s *Sink) Flush() error { return s.sync() }

// Close flushes and closes the current file.
func (s *Sink) Close() error {
	err := s.sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}
