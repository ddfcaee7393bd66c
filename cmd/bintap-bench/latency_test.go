package main

import (
	"testing"
	"time"
)

func TestLineWriterSplitsRecords(t *testing.T) {
	rec := newArrivals(100, 3, 1)
	lw := &lineWriter{rec: rec}
	for _, p := range []string{
		`{"namespace":"MaxScaleChangeDataSchema.avro","table":"latency"}` + "\n" + `{"event_type":"insert","table_name":"latency","id":1`,
		"01}\n",
		`{"event_type":"insert","table_name":"other","id":102}` + "\n" + `not json` + "\n" + `{"event_type":"insert","table_name":"latency","id":103}` + "\n",
	} {
		if _, err := lw.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if rec.at[0].IsZero() || !rec.at[1].IsZero() || rec.at[2].IsZero() {
		t.Errorf("arrivals %v: want ids 101 and 103 only", rec.at)
	}
	if got := rec.got.Load(); got != 1 {
		t.Errorf("measured rows seen = %d, want 1 (101 is the warm-up)", got)
	}
	if n := rec.unreadable.Load(); n != 1 {
		t.Errorf("unreadable = %d, want 1", n)
	}
}

func TestStatsCountMissingRows(t *testing.T) {
	t0 := time.Now()
	const n = 100
	rec := newArrivals(0, n+1, 1)
	commits := make([]time.Time, n+1)
	for i := 1; i <= n; i++ {
		commits[i] = t0
		switch {
		case i == 50: // never delivered
		case i == 51: // delivered after the cutoff
			rec.arrive(int64(i+1), t0.Add(time.Hour))
		default:
			rec.arrive(int64(i+1), t0.Add(time.Duration(i)*time.Millisecond))
		}
	}
	s := rec.stats(commits, t0.Add(time.Minute))
	if s.written != n || s.delivered != n-2 {
		t.Fatalf("delivered %d/%d, want %d/%d", s.delivered, s.written, n-2, n)
	}
	if s.p50 != 52*time.Millisecond || s.p99 != missing || s.max != 100*time.Millisecond {
		t.Errorf("p50 %s p99 %s max %s, want 52ms (rank 50 of 1..49, 52..100), missing, 100ms", s.p50, s.p99, s.max)
	}
}
