// Package stdout is the output "-": encoded records written to standard
// output, handed to the reader as soon as the stream has nothing more ready
// (so `bintap stream | jq` is live) and flushed before each checkpoint.
package stdout

import (
	"bufio"
	"context"
	"io"

	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/sink"
)

func init() {
	sink.Register(sink.Kind{
		Name:  "stdout",
		Form:  "- (stdout)",
		Match: func(spec string) bool { return spec == "-" },
		Parse: func(string, sink.Settings) (sink.Output, error) { return output{}, nil },
	})
}

type output struct{}

func (output) Name() string { return "stdout" }

func (output) Open(_ context.Context, env sink.Env) (pipeline.Destination, error) {
	enc, err := env.NewEncoder()
	if err != nil {
		return nil, err
	}
	return &pipeline.Lines{Encoder: enc, Sink: New(env.Stdout)}, nil
}

// Sink writes records to a writer.
type Sink struct{ w *bufio.Writer }

// New returns a sink on w. The buffer gathers small writes (an event or a
// few at a time while the stream is live); a batch larger than it goes to w
// directly when nothing is buffered, without a copy.
func New(w io.Writer) *Sink { return &Sink{w: bufio.NewWriterSize(w, 64<<10)} }

// Write buffers whole records.
func (s *Sink) Write(p []byte) error {
	_, err := s.w.Write(p)
	return err
}

// Push hands everything buffered to the writer.
func (s *Sink) Push() error { return s.w.Flush() }

// Flush hands everything buffered to the writer.
func (s *Sink) Flush() error { return s.w.Flush() }

// Close flushes.
func (s *Sink) Close() error { return s.w.Flush() }
