package snapshot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress counts snapshot rows per table. It is safe for concurrent use;
// Status gives the figures for logs and the HTTP status output.
type Progress struct {
	log    *slog.Logger
	bar    io.Writer
	began  time.Time
	mu     sync.Mutex
	tables map[string]*tableProgress
	order  []string
}

type tableProgress struct {
	total   int64 // estimate (information_schema.TABLES.TABLE_ROWS)
	base    int64 // rows delivered by an earlier, interrupted run
	rows    atomic.Int64
	started time.Time
	ended   time.Time
}

// TableProgress is one table's figures.
type TableProgress struct {
	Table string `json:"table"`
	// Rows read so far (including rows delivered before a resume).
	Rows int64 `json:"rows"`
	// Estimated is the server's estimate of the table's rows.
	Estimated  int64   `json:"estimated_rows"`
	RowsPerSec float64 `json:"rows_per_second"`
	// ETASeconds is the estimated time left, -1 when unknown.
	ETASeconds float64 `json:"eta_seconds"`
	Done       bool    `json:"done"`
}

func newProgress(tables []string, log *slog.Logger, bar io.Writer) *Progress {
	p := &Progress{log: log, bar: bar, began: time.Now(), tables: map[string]*tableProgress{}}
	for _, t := range tables {
		p.tables[t] = &tableProgress{}
		p.order = append(p.order, t)
	}
	return p
}

func (p *Progress) setTotal(table string, total, done int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tp := p.tables[table]; tp != nil {
		tp.total, tp.base = total, done
	}
}

func (p *Progress) add(table string, n int64) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tp := p.tables[table]
	if tp == nil {
		return
	}
	if tp.rows.Add(n) == n {
		tp.started = time.Now()
	}
}

// addTable adds a table to follow (incremental snapshots queue tables later).
func (p *Progress) addTable(table string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tables[table] == nil {
		p.tables[table] = &tableProgress{}
		p.order = append(p.order, table)
	}
}

// remove stops following a table (its incremental snapshot was stopped).
func (p *Progress) remove(table string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.tables, table)
	p.order = slices.DeleteFunc(p.order, func(t string) bool { return t == table })
}

func (p *Progress) finish(table string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tp := p.tables[table]; tp != nil {
		tp.ended = time.Now()
	}
}

func (p *Progress) rowsDone() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, tp := range p.tables {
		n += tp.rows.Load()
	}
	return n
}

// Status returns the figures of every table, in read order.
func (p *Progress) Status() []TableProgress {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	out := make([]TableProgress, 0, len(p.order))
	for _, name := range p.order {
		tp := p.tables[name]
		rows := tp.rows.Load()
		s := TableProgress{Table: name, Rows: tp.base + rows, Estimated: tp.total, ETASeconds: -1, Done: !tp.ended.IsZero()}
		if !tp.started.IsZero() {
			end := now
			if s.Done {
				end = tp.ended
			}
			if el := end.Sub(tp.started).Seconds(); el > 0 {
				s.RowsPerSec = float64(rows) / el
			}
		}
		switch {
		case s.Done:
			s.ETASeconds = 0
		case s.RowsPerSec > 0 && s.Estimated > s.Rows:
			s.ETASeconds = float64(s.Estimated-s.Rows) / s.RowsPerSec
		case s.RowsPerSec > 0:
			s.ETASeconds = 0
		}
		out = append(out, s)
	}
	return out
}

// run logs the figures of the tables being read every 10 seconds, and
// redraws the progress bar every half second; the returned func stops it.
func (p *Progress) run(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		logTick := time.NewTicker(10 * time.Second)
		defer logTick.Stop()
		barTick := time.NewTicker(500 * time.Millisecond)
		defer barTick.Stop()
		for {
			select {
			case <-ctx.Done():
				if p.bar != nil {
					p.drawBar()
					fmt.Fprintln(p.bar)
				}
				return
			case <-logTick.C:
				p.logActive()
			case <-barTick.C:
				if p.bar != nil {
					p.drawBar()
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (p *Progress) logActive() {
	for _, s := range p.Status() {
		if s.Done || s.RowsPerSec == 0 {
			continue
		}
		p.log.Info("snapshot progress", "table", s.Table, "rows", s.Rows, "estimated_rows", s.Estimated,
			"rows_per_second", int64(s.RowsPerSec), "eta_seconds", int64(s.ETASeconds))
	}
}

// drawBar rewrites one line: overall percentage, rows, rate and ETA.
func (p *Progress) drawBar() {
	var rows, est int64
	var rate float64
	active := ""
	for _, s := range p.Status() {
		rows += s.Rows
		est += max(s.Estimated, s.Rows)
		if !s.Done && s.RowsPerSec > 0 {
			rate += s.RowsPerSec
			active = s.Table
		}
	}
	frac := 1.0
	if est > 0 {
		frac = min(float64(rows)/float64(est), 1)
	}
	const width = 30
	filled := int(frac * width)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(est-rows)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.bar, "\rsnapshot [%s%s] %3.0f%% %d/%d rows %.0f rows/s ETA %s %s\x1b[K",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, rows, est, rate, eta, active)
}
