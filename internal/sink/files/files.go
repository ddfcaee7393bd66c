// Package files is the output files:///DIR, a "FileZone": every change
// goes into one file per table per time window of commit time, in JSON
// lines, CSV or Parquet, and a file appears under its final name only once
// its window has closed. `bintap load` pushes the closed files into a
// database target (Read and ReadManifest are its side).
//
// Layout of DIR:
//
//	_manifest.jsonl                         one line per closed file (Entry), append-only
//	_state.json                             the output's position and its open files
//	_open/                                  the files of the open window(s), being written
//	DB/TABLE/YYYY-MM-DD/HHMMSS_FILE_POS_N.EXT   closed files
//
// Windows are aligned to the UTC clock (a 15-minute window starts at :00,
// :15, :30 and :45). A transaction goes into the window of its commit time;
// a transaction stamped earlier than the open window (the binlog's clock
// may step back a second) goes into the open window, never into a closed
// one. A window closes when the stream reaches a transaction of a later
// window, or when the source is idle and the clock has passed the window's
// end by idleGrace.
//
// Exactly once: the open files are appended to and fsynced at every
// checkpoint, and _state.json records, in the same atomic write, the stream
// position they cover and their lengths. After a crash the stream resumes
// from that position and each open file is cut back to its recorded length,
// so it is rewritten with the same bytes. Closing a window is recorded in
// _state.json first (which files become which names, and their manifest
// lines), then the renames and the manifest append are done, and redone on
// start when a crash came between.
package files

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/sink"
)

func init() {
	sink.Register(sink.Kind{
		Name:  "files",
		Form:  "files:///DIR (one file per table per time window: JSON lines, CSV or Parquet)",
		Match: func(spec string) bool { return strings.HasPrefix(spec, "files://") },
		Options: []sink.Option{
			{Name: "file-window", Default: "15m", Usage: "files output: the time window of each file (1m, 5m, 15m, 1h, ...: a divisor of 24h, from 1s), aligned to the UTC clock",
				Check: func(v string) error { _, err := ParseWindow(v); return err }},
			{Name: "file-format", Default: "jsonl", Usage: "files output: jsonl, csv or parquet",
				Check: func(v string) error { return sink.OneOf(v, "jsonl", "csv", "parquet") }},
			{Name: "file-retain", Default: "0", Usage: "files output: delete closed files whose window ended longer ago than this (such as 48h; 0 keeps them), whether or not they were loaded",
				Check: func(v string) error { _, err := parseRetain(v); return err }},
		},
		Parse: func(spec string, s sink.Settings) (sink.Output, error) {
			dir := strings.TrimPrefix(spec, "files://")
			if host, _, _ := strings.Cut(dir, "/"); dir == "" || strings.ContainsAny(dir, "?#") || strings.Contains(host, "@") {
				return nil, errors.New("the files output is files:///path/to/dir")
			}
			var o output
			var err error
			o.dir = dir
			if o.opt.Window, err = ParseWindow(s.Get("file-window")); err != nil {
				return nil, &sink.SettingError{Field: "file-window", Value: s.Get("file-window"), Reason: err.Error()}
			}
			o.opt.Format = s.Get("file-format")
			if err := sink.OneOf(o.opt.Format, "jsonl", "csv", "parquet"); err != nil {
				return nil, &sink.SettingError{Field: "file-format", Value: o.opt.Format, Reason: err.Error()}
			}
			if o.opt.Retain, err = parseRetain(s.Get("file-retain")); err != nil {
				return nil, &sink.SettingError{Field: "file-retain", Value: s.Get("file-retain"), Reason: err.Error()}
			}
			o.opt.Binary = s.Get("binary-format")
			return o, nil
		},
	})
}

// ParseWindow reads a window length: a Go duration from 1s to 24h that
// divides a day, so windows line up with the clock.
func ParseWindow(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d > 24*time.Hour || (24*time.Hour)%d != 0 || d%time.Second != 0 {
		return 0, errors.New("accepted are durations from 1s to 24h in whole seconds that divide a day, such as 1m, 5m, 15m, 1h or 24h")
	}
	return d, nil
}

func parseRetain(v string) (time.Duration, error) {
	if v == "0" || v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("accepted are 0 (keep every file) or a duration such as 48h")
	}
	return d, nil
}

// Options configure the files output.
type Options struct {
	Window time.Duration
	Format string // jsonl, csv, parquet
	Retain time.Duration
	Binary string // hex or base64 (text formats)
}

func (o Options) ext() string { return o.Format }

func (o Options) binary() format.BinaryEncoding { return format.ParseBinaryEncoding(o.Binary) }

type output struct {
	dir string
	opt Options
}

func (o output) Name() string { return "files://" + o.dir }

func (o output) Open(_ context.Context, env sink.Env) (pipeline.Destination, error) {
	return New(o.dir, o.opt, env.TimeZone, env.Log)
}

// windowOf is the start of the window holding a commit time.
func windowOf(ts uint32, w time.Duration) time.Time {
	s := int64(w / time.Second)
	return time.Unix(int64(ts)/s*s, 0).UTC()
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("files output: "+format, args...)
}
