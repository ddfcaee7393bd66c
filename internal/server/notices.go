package server

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Notice is one warning or error that was logged.
type Notice struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"` // WARN or ERROR
	Message string    `json:"message"`
}

// Notices keeps the last warnings and errors of a logger for the status
// and the dashboard. They are the log lines themselves, which never carry
// a password.
type Notices struct {
	mu   sync.Mutex
	max  int
	list []Notice // oldest first
}

// NewNotices keeps the last max notices.
func NewNotices(max int) *Notices { return &Notices{max: max} }

// List returns the notices, newest first.
func (n *Notices) List() []Notice {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Notice, len(n.list))
	for i, x := range n.list {
		out[len(out)-1-i] = x
	}
	return out
}

func (n *Notices) add(x Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, x)
	if len(n.list) > n.max {
		n.list = append(n.list[:0], n.list[len(n.list)-n.max:]...)
	}
}

// Handler returns a handler that records warnings and errors (whatever
// the log level lets through) and passes every record on to next.
func (n *Notices) Handler(next slog.Handler) slog.Handler {
	return &noticeHandler{n: n, next: next}
}

type noticeHandler struct {
	n      *Notices
	next   slog.Handler
	prefix string // attributes added by WithAttrs, as text
	group  string // current group prefix, "g." form
}

func (h *noticeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *noticeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		b.WriteString(r.Message)
		b.WriteString(h.prefix)
		r.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.group, a)
			return true
		})
		level := "WARN"
		if r.Level >= slog.LevelError {
			level = "ERROR"
		}
		t := r.Time
		if t.IsZero() {
			t = time.Now()
		}
		h.n.add(Notice{Time: t.UTC(), Level: level, Message: b.String()})
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *noticeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range attrs {
		appendAttr(&b, h.group, a)
	}
	return &noticeHandler{n: h.n, next: h.next.WithAttrs(attrs), prefix: b.String(), group: h.group}
}

func (h *noticeHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &noticeHandler{n: h.n, next: h.next.WithGroup(name), prefix: h.prefix, group: h.group + name + "."}
}

// appendAttr writes " key=value" as slog's text handler would, groups
// flattened with dots.
func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, x := range v.Group() {
			appendAttr(b, g, x)
		}
		return
	}
	if a.Key == "" {
		return
	}
	b.WriteByte(' ')
	b.WriteString(group + a.Key)
	b.WriteByte('=')
	s := v.String()
	if s == "" || strings.ContainsAny(s, " =\"") {
		b.WriteString(quote(s))
	} else {
		b.WriteString(s)
	}
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
