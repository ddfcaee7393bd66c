package engine

// Running as one instance of a high-availability group (--ha-group): wait
// as a standby for the group's lock (internal/ha), stream while it is held,
// and go back to standby when it is lost or an output says another instance
// took over.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bintap/bintap/internal/ha"
	"github.com/bintap/bintap/internal/pipeline"
)

// StateStandby is the state of a group's instance that waits for the lock.
const StateStandby = "standby"

// runGroup alternates between standby and active until ctx ends or an
// active run fails for another reason than losing its role.
func (e *Engine) runGroup(ctx context.Context) error {
	cfg := e.cfg
	el := ha.New(ha.Options{Group: cfg.HAGroup, Instance: cfg.HAInstance, Lease: cfg.HALease, Source: cfg.Source, Log: e.log})
	e.mu.Lock()
	e.elector = el
	e.mu.Unlock()
	defer el.Release()
	e.log.Info("ha: joining group", "group", cfg.HAGroup, "instance", cfg.HAInstance, "lock", ha.LockName(cfg.HAGroup), "lease", cfg.HALease.String())
	for {
		e.toStandby()
		if err := el.Acquire(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		e.setState(StateStarting)
		runCtx, cancel := context.WithCancel(ctx)
		lostCtx, unwatch := chanContext(el.Lost())
		stop := context.AfterFunc(lostCtx, cancel)
		err := e.stream(runCtx, el)
		stop()
		unwatch()
		cancel()
		lost := isClosed(el.Lost())
		if errors.Is(err, pipeline.ErrDeposed) && !lost {
			el.Depose(err.Error())
			lost = true
		}
		el.Release()
		switch {
		case ctx.Err() != nil:
			return err
		case lost:
			if err != nil {
				e.log.Info("ha: the deposed run ended", "err", err)
			}
			e.log.Warn("ha: back to standby; another instance may stream now")
			select { // give the new active one a head start on the lock
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		return err
	}
}

// toStandby resets what the status shows of a finished active run.
func (e *Engine) toStandby() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.state, e.since, e.failure = StateStandby, time.Now(), ""
	e.outputs, e.pipe, e.plan = nil, nil, snapshotPlan{}
	e.sourceErr, e.sourceDown = nil, time.Time{}
	clear(e.outputDown)
}

// fence takes every output over for this instance (pipeline.Fencer) and
// returns the highest epoch they gave it.
func fence(ctx context.Context, outputs []pipeline.Output) (uint64, error) {
	var epoch uint64
	for _, o := range outputs {
		f, ok := o.Dest.(pipeline.Fencer)
		if !ok {
			return 0, fmt.Errorf("output %s cannot be fenced: it cannot be written by an HA group", o.Name)
		}
		n, err := f.Fence(ctx)
		if err != nil {
			return 0, fmt.Errorf("output %s: take it over: %w", o.Name, err)
		}
		epoch = max(epoch, n)
	}
	return epoch, nil
}

// chanContext is a context that ends when ch closes (never for nil) or
// when it is cancelled.
func chanContext(ch <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	if ch != nil {
		go func() {
			select {
			case <-ch:
			case <-ctx.Done():
			}
			cancel()
		}()
	}
	return ctx, cancel
}

func isClosed(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
