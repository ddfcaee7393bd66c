package engine

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/snapshot"
)

// dest is a destination with the optional capabilities the rules use.
type dest struct {
	pos     *position.Checkpoint
	posErr  error
	resets  int
	resetTo error
}

func (d *dest) Write(context.Context, []change.Event, position.Checkpoint) error { return nil }
func (d *dest) Flush(context.Context) error                                      { return nil }
func (d *dest) Close(context.Context) error                                      { return nil }
func (d *dest) Reset(context.Context) error                                      { d.resets++; d.pos = nil; return d.resetTo }
func (d *dest) Position(context.Context) (*position.Checkpoint, error)           { return d.pos, d.posErr }

// plain is a destination without capabilities (stdout, files).
type plain struct{}

func (plain) Write(context.Context, []change.Event, position.Checkpoint) error { return nil }
func (plain) Flush(context.Context) error                                      { return nil }
func (plain) Close(context.Context) error                                      { return nil }

func cp(file string, pos uint32, skip uint64) *position.Checkpoint {
	return &position.Checkpoint{File: file, Pos: pos, Skip: skip}
}

// started is the checkpoint written where a new stream began.
func started(file string, pos uint32) *position.Checkpoint {
	return &position.Checkpoint{File: file, Pos: pos, Start: true}
}

func TestResumeFromOldestPosition(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	cases := []struct {
		name      string
		state     *position.Checkpoint
		positions []*position.Checkpoint // nil: the output holds none
		want      *position.Checkpoint
	}{
		{"nothing anywhere", nil, []*position.Checkpoint{nil}, nil},
		{"state dir only", cp("b.000002", 400, 0), []*position.Checkpoint{nil}, cp("b.000002", 400, 0)},
		{"output only (state dir lost)", nil, []*position.Checkpoint{cp("b.000001", 100, 0)}, cp("b.000001", 100, 0)},
		{"output behind the state dir", cp("b.000002", 400, 0), []*position.Checkpoint{cp("b.000001", 900, 0)}, cp("b.000001", 900, 0)},
		{"output ahead of the state dir", cp("b.000001", 900, 0), []*position.Checkpoint{cp("b.000002", 4, 0)}, cp("b.000001", 900, 0)},
		{"inside one transaction", cp("b.000001", 900, 7), []*position.Checkpoint{cp("b.000001", 900, 3), cp("b.000001", 900, 9)}, cp("b.000001", 900, 3)},
		// Stopped before the first checkpoint but the start one: one output
		// committed, the other nothing; both are fed from the start.
		{"stopped before the first checkpoint", started("b.000001", 4), []*position.Checkpoint{cp("b.000001", 900, 0), nil}, cp("b.000001", 4, 0)},
		{"state dir lost, one output empty", nil, []*position.Checkpoint{cp("b.000001", 900, 0), nil}, cp("b.000001", 900, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			outputs := []pipeline.Output{{Name: "stdout", Dest: plain{}}}
			for _, p := range tc.positions {
				outputs = append(outputs, pipeline.Output{Name: "positioned", Dest: &dest{pos: p}})
			}
			var logs strings.Builder
			got, err := resumeFrom(ctx, tc.state, outputs, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			// An output with no position, while the stream resumes from a
			// position that is not its start, is fed from there on: said,
			// with what to do.
			warned := strings.Contains(logs.String(), `level=WARN msg="output holds no position`) && strings.Contains(logs.String(), "bintap snapshot --table")
			if want := tc.want != nil && (tc.state == nil || !tc.state.Start) && slices.Contains(tc.positions, nil); warned != want {
				t.Errorf("warned %v, want %v:\n%s", warned, want, logs.String())
			}
			if (got == nil) != (tc.want == nil) || got != nil && got.String() != tc.want.String() {
				t.Fatalf("resume from %v, want %v", got, tc.want)
			}
			for i, p := range tc.positions {
				if h := outputs[i+1].Holds; h != p {
					t.Errorf("output %d holds %v, want %v", i+1, h, p)
				}
			}
			if outputs[0].Holds != nil {
				t.Error("an output without a position was told it holds one")
			}
		})
	}
	bad := []pipeline.Output{{Name: "kafka://k/t", Dest: &dest{posErr: errors.New("broker says no")}}}
	if _, err := resumeFrom(ctx, nil, bad, log); err == nil || err.Error() != "output kafka://k/t: read its position: broker says no" {
		t.Errorf("error %v, want it to name the output", err)
	}
}

func TestResetRemovesStateAndOutputData(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "index.db") // the embedded index is an output: reset through it
	for _, name := range append(stateFiles, "index.db", "lock") {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := &dest{pos: cp("b.000001", 4, 0)}
	if err := reset(context.Background(), dir, []pipeline.Output{{Name: "stdout", Dest: plain{}}, {Name: "index", Dest: d}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range stateFiles {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after reset: %v", name, err)
		}
	}
	if _, err := os.Stat(keep); err != nil || d.resets != 1 {
		t.Errorf("index file %v, output reset %d times", err, d.resets)
	}
	// A second reset of an empty dir is fine; an output that cannot forget
	// stops it with its name.
	d.resetTo = errors.New("read-only")
	if err := reset(context.Background(), dir, []pipeline.Output{{Name: "index", Dest: d}}); err == nil || err.Error() != "--reset: output index: read-only" {
		t.Errorf("error %v", err)
	}
}

func TestChooseSnapshot(t *testing.T) {
	start := *cp("b.000002", 100, 0)
	incomplete := &snapshot.State{Start: start}
	complete := &snapshot.State{Start: start, Complete: true}
	older, newer := cp("b.000001", 500, 0), cp("b.000003", 4, 0)
	cases := []struct {
		name                      string
		mode                      string
		snapshotGiven, startGiven bool
		st                        *snapshot.State
		ckpt                      *position.Checkpoint
		want                      snapshotAction
		warns                     bool
	}{
		{"first start", snapshot.ModeInitial, false, false, nil, nil, newSnapshot, false},
		{"first start, --start given", snapshot.ModeInitial, false, true, nil, nil, streamFromCheckpoint, false},
		{"first start, --start and --snapshot given", snapshot.ModeInitial, true, true, nil, nil, newSnapshot, false},
		{"never", snapshot.ModeNever, true, false, nil, nil, streamFromCheckpoint, false},
		{"restart with a checkpoint", snapshot.ModeInitial, false, false, nil, newer, streamFromCheckpoint, false},
		{"initial_only with a checkpoint", snapshot.ModeInitialOnly, true, false, nil, newer, streamFromCheckpoint, false},
		{"when_needed with a checkpoint", snapshot.ModeWhenNeeded, true, false, nil, newer, newSnapshotIfPurged, false},
		{"interrupted snapshot", snapshot.ModeInitial, false, false, incomplete, nil, resumeSnapshot, false},
		{"interrupted, checkpoint older than it", snapshot.ModeInitial, false, false, incomplete, older, resumeSnapshot, false},
		{"interrupted, checkpoint past it", snapshot.ModeInitial, false, false, incomplete, newer, streamFromCheckpoint, true},
		{"interrupted, --snapshot never", snapshot.ModeNever, true, false, incomplete, nil, streamFromCheckpoint, true},
		{"complete, no checkpoint yet", snapshot.ModeInitial, false, false, complete, nil, streamFromSnapshot, false},
		{"complete, checkpoint written", snapshot.ModeInitial, false, false, complete, newer, streamFromCheckpoint, false},
	}
	for _, tc := range cases {
		got, warning := chooseSnapshot(tc.mode, tc.snapshotGiven, tc.startGiven, tc.st, tc.ckpt)
		if got != tc.want || (warning != "") != tc.warns {
			t.Errorf("%s: action %d warning %q, want %d (warning %v)", tc.name, got, warning, tc.want, tc.warns)
		}
	}
}

func TestLag(t *testing.T) {
	now := time.Unix(1000, 0)
	cases := []struct {
		name               string
		lastCommit, caught time.Time
		want               float64
		known              bool
	}{
		{"nothing yet", time.Time{}, time.Time{}, 0, false},
		{"busy: behind the last commit", time.Unix(990, 0), time.Time{}, 10, true},
		{"idle and caught up", time.Unix(900, 0), time.Unix(999, 0), 0, true},
		{"idle, source silent since", time.Unix(900, 0), time.Unix(980, 0), 20, true},
		{"busy since the last idle report", time.Unix(995, 0), time.Unix(990, 0), 5, true},
	}
	for _, tc := range cases {
		got, ok := lagSeconds(now, tc.lastCommit, tc.caught)
		if got != tc.want || ok != tc.known {
			t.Errorf("%s: lag %v %v, want %v %v", tc.name, got, ok, tc.want, tc.known)
		}
	}
}
