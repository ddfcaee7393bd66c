package backoff

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSequence(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name         string
		initial, max time.Duration
		want         []time.Duration
	}{
		{"kafka requests", s, 10 * s, []time.Duration{s, 2 * s, 4 * s, 8 * s, 10 * s, 10 * s}},
		{"source reconnects", s, 30 * s, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s}},
		{"no ceiling", s, 0, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s}},
		{"initial above max", 20 * s, 10 * s, []time.Duration{20 * s, 10 * s, 10 * s}},
		{"zero", 0, 10 * s, []time.Duration{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Backoff{Initial: tt.initial, Max: tt.max}
			var got []time.Duration
			for range tt.want {
				peek := b.Delay()
				d := b.Next()
				if peek != d {
					t.Fatalf("Delay() = %v before Next() = %v", peek, d)
				}
				got = append(got, d)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("delays = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReset(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 30 * time.Second}
	for range 4 {
		b.Next()
	}
	if d := b.Delay(); d != 16*time.Second {
		t.Fatalf("Delay() after 4 attempts = %v, want 16s", d)
	}
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Errorf("Next() after Reset = %v, want 1s", d)
	}
	if d := b.Next(); d != 2*time.Second {
		t.Errorf("second Next() after Reset = %v, want 2s", d)
	}
}

func TestWait(t *testing.T) {
	stop := errors.New("stopped")
	t.Run("elapses and advances", func(t *testing.T) {
		b := Backoff{Initial: time.Nanosecond, Max: time.Hour}
		if err := b.Wait(context.Background()); err != nil {
			t.Fatalf("Wait = %v, want nil", err)
		}
		if d := b.Delay(); d != 2*time.Nanosecond {
			t.Errorf("Delay() after Wait = %v, want 2ns", d)
		}
	})
	t.Run("context already done", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(stop)
		b := Backoff{Initial: time.Hour}
		if err := b.Wait(ctx); err != stop {
			t.Errorf("Wait = %v, want the cause %v", err, stop)
		}
	})
	t.Run("context ends while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		b := Backoff{Initial: time.Hour}
		done := make(chan error, 1)
		go func() { done <- b.Wait(ctx) }()
		cancel(stop)
		if err := <-done; err != stop {
			t.Errorf("Wait = %v, want the cause %v", err, stop)
		}
	})
	t.Run("context without cause", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		b := Backoff{Initial: time.Hour}
		if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %v, want context.Canceled", err)
		}
	})
}
