// Package sink is the registry of bintap's outputs. Each kind of output is
// one package under internal/sink/ that registers itself here from init:
// which --output values are its own, the settings it owns (flags, YAML keys
// and BINTAP_* variables), how it validates them up front, and how it opens.
// The configuration asks the registry; the engine opens what it was given.
// Nothing outside a kind's package knows its options or its type.
//
// To add a destination:
//
//  1. Write package internal/sink/NAME. Its destination implements
//     pipeline.Destination and whichever optional capabilities fit:
//     pipeline.Positioned (it stores the stream position with its data; the
//     pipeline then hands it only what it does not hold yet),
//     pipeline.Resetter (--reset), pipeline.Reporter (health),
//     pipeline.StatusReporter (its section of /status), pipeline.Pusher and
//     pipeline.TransactionEnder (byte streams; pipeline.Lines has both),
//     pipeline.Counter (messages and bytes in the status).
//  2. In its init, call Register with a Kind: Match says which --output
//     values are its own, Options lists its settings, Parse validates one
//     output (every error names the setting and what is accepted) and returns
//     an Output whose Open makes the destination.
//  3. Add one import line to internal/sink/all.
package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/pipeline"
)

// Option is a setting a kind of output owns. Its name is the flag name; the
// YAML key is the name with '_' for '-', the environment variable BINTAP_
// and the YAML key in upper case.
type Option struct {
	Name    string
	Default string
	Usage   string
	Bool    bool // a flag that may be given without a value
	// Check, when set, validates a value; its error says what is accepted.
	Check func(v string) error
}

// Settings are the values of every setting of the stream (a kind's own and
// the shared ones such as topic-prefix or binary-format), after the order
// of precedence (flags, environment, file, default) was applied.
type Settings interface {
	Get(name string) string
	// Given reports whether the setting was set rather than defaulted.
	Given(name string) bool
}

// Kind is one kind of output.
type Kind struct {
	// Name is the kind's name in help and errors ("kafka").
	Name string
	// Form is how an output of this kind is written, for help and errors
	// ("kafka://HOST:PORT[,HOST:PORT...]/TOPIC").
	Form string
	// Match reports whether an --output value is of this kind.
	Match func(spec string) bool
	// Options are the settings the kind owns.
	Options []Option
	// Check, when set, is called once whether or not an output of this kind
	// is configured: it validates settings that go together, and returns
	// an output its settings imply ("" for none), such as --bootstrap-servers
	// with --topic.
	Check func(s Settings) (implied string, err error)
	// Parse validates one output up front and returns it ready to open.
	Parse func(spec string, s Settings) (Output, error)
}

// Output is a validated output, ready to open.
type Output interface {
	// Name is how the output is shown in logs and the status: never with
	// a password.
	Name() string
	// Open makes the destination. ctx is the stream's: it ends when the
	// stream stops.
	Open(ctx context.Context, env Env) (pipeline.Destination, error)
}

// Env is what the engine hands every output when it opens.
type Env struct {
	StateDir string
	Stdout   io.Writer
	Log      *slog.Logger
	// NewEncoder returns a fresh encoder of the stream's --format; encoders
	// keep per-stream state, so each output takes its own.
	NewEncoder func() (format.Encoder, error)
	// Source names the source server (host:port) in heartbeats.
	Source   string
	TimeZone *time.Location
	// HeartbeatInterval is how often outputs that send heartbeats do (0: off).
	HeartbeatInterval time.Duration
	// Lease is this instance's right to write when it runs in an HA group
	// (--ha-group); nil for a single instance. Outputs check it before each
	// send and fail with its error once it is lost.
	Lease Lease
}

// Lease is the right to write of the active instance of an HA group.
type Lease interface {
	// Valid reports whether the instance may write now.
	Valid() bool
	// Lost is closed once the instance is no longer active.
	Lost() <-chan struct{}
	// Instance names this process in the epoch records outputs store.
	Instance() string
}

// Shared is an output whose stored position every instance of an HA group
// reads (Kafka, an index or a database on a server): SharedPosition says
// why not when it is not (a local state dir, a file, stdout).
type Shared interface {
	SharedPosition() error
}

// SettingError is an error in one setting (config.FieldError): it names the
// setting, the value given and what is accepted.
type SettingError struct {
	Field  string // flag name
	Value  string
	Reason string // what is accepted
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("invalid --%s %q: %s", e.Field, e.Value, e.Reason)
}

var (
	mu    sync.RWMutex
	kinds []*Kind
)

// Register adds a kind of output. It panics when the kind is incomplete or
// its name is taken: both are programming errors found at start-up.
func Register(k Kind) {
	if k.Name == "" || k.Match == nil || k.Parse == nil || k.Form == "" {
		panic("sink.Register: a kind needs Name, Form, Match and Parse")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, o := range kinds {
		if o.Name == k.Name {
			panic("sink.Register: kind " + k.Name + " registered twice")
		}
	}
	kinds = append(kinds, &k)
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].Name < kinds[j].Name })
}

// Kinds returns the registered kinds by name.
func Kinds() []*Kind {
	mu.RLock()
	defer mu.RUnlock()
	return append([]*Kind(nil), kinds...)
}

// Lookup returns the kind of an --output value.
func Lookup(spec string) (*Kind, error) {
	for _, k := range Kinds() {
		if k.Match(spec) {
			return k, nil
		}
	}
	return nil, errors.New("accepted outputs are " + Forms())
}

// Forms lists how each kind of output is written.
func Forms() string {
	var forms []string
	for _, k := range Kinds() {
		forms = append(forms, k.Form)
	}
	return strings.Join(forms, ", ")
}
