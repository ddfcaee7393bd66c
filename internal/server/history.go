package server

import (
	"net/http"
	"sync"
	"time"
)

// historyWindow is how far back GET /history goes.
const historyWindow = 15 * time.Minute

// Sample is one point of the history: the lag (nil when unknown) and the
// events per second delivered since the sample before.
type Sample struct {
	Time         time.Time `json:"t"`
	LagSeconds   *float64  `json:"lag_seconds"`
	EventsPerSec float64   `json:"events_per_second"`
	Events       uint64    `json:"events"`
}

// history keeps the samples of the last 15 minutes, taken by one goroutine.
type history struct {
	every time.Duration
	mu    sync.Mutex
	ring  []Sample // oldest first, at most historyWindow/every
}

// startHistory samples status every interval (2s when 0) until stop.
func startHistory(figures func() (uint64, *float64), every time.Duration) (*history, func()) {
	if every <= 0 {
		every = 2 * time.Second
	}
	h := &history{every: every}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		h.take(figures, time.Now())
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				h.take(figures, now)
			}
		}
	}()
	var once sync.Once
	return h, func() { once.Do(func() { close(done); <-stopped }) }
}

func (h *history) take(figures func() (uint64, *float64), now time.Time) {
	events, lag := figures()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Sample{Time: now.UTC().Truncate(time.Millisecond), LagSeconds: lag, Events: events}
	if n := len(h.ring); n > 0 {
		prev := h.ring[n-1]
		if dt := now.Sub(prev.Time).Seconds(); dt > 0 && events >= prev.Events {
			s.EventsPerSec = float64(events-prev.Events) / dt
		}
	}
	h.ring = append(h.ring, s)
	if limit := int(historyWindow / h.every); len(h.ring) > limit {
		h.ring = append(h.ring[:0], h.ring[len(h.ring)-limit:]...)
	}
}

func (h *history) samples() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Sample{}, h.ring...)
}

func (s *Server) handleHistory(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"interval_seconds": s.hist.every.Seconds(), "window_seconds": historyWindow.Seconds(), "samples": s.hist.samples()})
}
