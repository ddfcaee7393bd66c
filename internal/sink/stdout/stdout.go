// Package stdout is the destination that writes encoded records to standard
// output (or any writer), buffered, flushed before each checkpoint.
package stdout

import (
	"bufio"
	"io"
)

// Sink writes records to a writer.
type Sink struct{ w *bufio.Writer }

// New returns a sink on w.
func New(w io.Writer) *Sink { return &Sink{w: bufio.NewWriterSize(w, 1<<20)} }

// Write buffers whole records.
func (s *Sink) Write(p []byte) error {
	_, err := s.w.Write(p)
	return err
}

// Flush hands everything buffered to the writer.
func (s *Sink) Flush() error { return s.w.Flush() }

// Close flushes.
func (s *Sink) Close() error { return s.w.Flush() }
