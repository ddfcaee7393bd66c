package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// states are the lifecycle states, each a bintap_state sample.
var states = []string{"starting", "snapshotting", "streaming", "retrying", "stopping", "failed", "standby"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descUp          = desc("bintap_up", "1 while the stream is healthy (as /healthz), 0 once it failed or while it retries longer than --health-grace")
	descState       = desc("bintap_state", "1 for the current lifecycle state", "state")
	descEvents      = desc("bintap_events_total", "Change events written to every output")
	descBatches     = desc("bintap_batches_total", "Batches written to every output")
	descTableEvents = desc("bintap_table_events_total", "Change events of a captured table by operation", "table", "op")
	descLag         = desc("bintap_replication_lag_seconds", "Now minus the commit time of the last delivered change; 0 when caught up with an idle source")
	descLastCommit  = desc("bintap_last_commit_timestamp_seconds", "Commit time of the newest change written (0 before the first)")
	descCheckpoint  = desc("bintap_checkpoint_timestamp_seconds", "When the last checkpoint was written (0 before the first)")
	descCkptAge     = desc("bintap_checkpoint_age_seconds", "Seconds since the last checkpoint was written")
	descStart       = desc("bintap_start_timestamp_seconds", "When this process started streaming")
	descOutputUp    = desc("bintap_output_up", "1 when the output accepts writes, 0 while it retries or failed", "output")
	descOutputMsgs  = desc("bintap_output_messages_total", "Records or messages an output was given", "output")
	descOutputBytes = desc("bintap_output_bytes_total", "Bytes an output was given", "output")
	descSnapRows    = desc("bintap_snapshot_rows", "Rows of a table copied by a snapshot", "kind", "table")
	descHAActive    = desc("bintap_ha_active", "HA group (--ha-group): 1 while this instance is the active one, 0 while standby", "group")
	descHAEpoch     = desc("bintap_ha_epoch", "HA group: the epoch this instance wrote with when it last was active", "group")
	descSnapEst     = desc("bintap_snapshot_rows_estimated", "Estimated rows of a table being snapshotted", "kind", "table")
)

// collector turns the status into samples at each scrape.
type collector struct{ status func() Status }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descState, descEvents, descBatches, descTableEvents, descLag, descLastCommit,
		descCheckpoint, descCkptAge, descStart, descOutputUp, descOutputMsgs, descOutputBytes, descSnapRows, descSnapEst, descHAActive, descHAEpoch} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descUp, boolFloat(st.Healthy))
	for _, s := range states {
		gauge(descState, boolFloat(st.State == s), s)
	}
	counter(descEvents, st.Events)
	counter(descBatches, st.Batches)
	for _, t := range st.Tables {
		counter(descTableEvents, t.Inserts, t.Name, "insert")
		counter(descTableEvents, t.Updates, t.Name, "update")
		counter(descTableEvents, t.Deletes, t.Name, "delete")
		counter(descTableEvents, t.Reads, t.Name, "read")
	}
	if st.LagSeconds != nil {
		gauge(descLag, *st.LagSeconds)
	}
	gauge(descLastCommit, unixOrZero(st.LastCommit))
	gauge(descCheckpoint, unixOrZero(st.CheckpointWritten))
	if !st.CheckpointWritten.IsZero() {
		gauge(descCkptAge, time.Since(st.CheckpointWritten).Seconds())
	}
	gauge(descStart, unixOrZero(st.Started))
	if st.HAGroup != "" {
		gauge(descHAActive, boolFloat(st.Role == "active"), st.HAGroup)
		gauge(descHAEpoch, float64(st.HAEpoch), st.HAGroup)
	}
	for _, o := range st.Outputs {
		gauge(descOutputUp, boolFloat(o.State == "ok"), o.Name)
		counter(descOutputMsgs, o.Messages, o.Name)
		counter(descOutputBytes, o.Bytes, o.Name)
	}
	for _, p := range st.Snapshots {
		gauge(descSnapRows, float64(p.Rows), p.Kind, p.Table)
		gauge(descSnapEst, float64(p.Estimated), p.Kind, p.Table)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
