// Package backoff paces retries: an exponential delay that starts at an
// initial value, doubles after every attempt up to a ceiling, and starts
// over once things work again. The source's reconnect loop and the Kafka
// output's request retries share it.
package backoff

import (
	"context"
	"time"
)

// Backoff is an exponential delay between attempts: Initial, then twice the
// delay before, never more than Max (Max <= 0 sets no ceiling). It holds
// the state of one retry loop and is not safe for concurrent use.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	next    time.Duration // 0: Initial
}

// Delay returns the delay that Next and Wait use next, without using it up
// (to report it before waiting).
func (b *Backoff) Delay() time.Duration {
	if b.next == 0 {
		return b.Initial
	}
	return b.next
}

// Next returns the delay before the next attempt and doubles the one after
// it, up to Max.
func (b *Backoff) Next() time.Duration {
	d := b.Delay()
	b.next = 2 * d
	if b.Max > 0 && b.next > b.Max {
		b.next = b.Max
	}
	return d
}

// Reset starts the delays over from Initial.
func (b *Backoff) Reset() { b.next = 0 }

// Wait waits for the next delay (see Next). When ctx ends first it returns
// at once with ctx's cause.
func (b *Backoff) Wait(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
