package main

import (
	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
)

// encoder is what every bintap format provides: records for byte outputs
// (stdout, files) and keyed messages for Kafka.
type encoder interface {
	pipeline.Encoder
	format.MessageEncoder
}

// newEncoder returns a fresh encoder of the configured --format. Encoders
// keep per-stream state (schemas sent, the open transaction): one per output.
func newEncoder(cfg *config.Config) (encoder, error) {
	if cfg.Format == "debezium" {
		return format.NewDebezium(debeziumOptions(cfg))
	}
	return format.NewMaxScale(cfg.BinaryFormat, cfg.SendSchema), nil
}

func debeziumOptions(cfg *config.Config) format.DebeziumOptions {
	connector := "" // auto: from each transaction's GTID shape
	if cfg.Flavor == "mysql" || cfg.Flavor == "mariadb" {
		connector = cfg.Flavor
	}
	return format.DebeziumOptions{
		TopicPrefix:            cfg.TopicPrefix,
		Connector:              connector,
		Version:                "bintap-" + version,
		DecimalHandling:        cfg.DebeziumDecimalHandling,
		BinaryHandling:         cfg.DebeziumBinaryHandling,
		BigIntUnsignedHandling: cfg.DebeziumBigintUnsigned,
		TimePrecision:          cfg.DebeziumTimePrecision,
		Tombstones:             cfg.DebeziumTombstones,
		Schemas:                cfg.DebeziumSchemas,
		TransactionMetadata:    cfg.DebeziumTransactionMetadata,
	}
}

// lineOutput is the destination of a byte output. For an encoder that
// writes records at transaction ends (Debezium's END), they are written as
// soon as a batch ends on a commit, not only when the next transaction begins.
func lineOutput(enc encoder, sink pipeline.Sink) pipeline.Destination {
	if d, ok := enc.(*format.Debezium); ok {
		return &txLines{Lines: pipeline.Lines{Encoder: enc, Sink: sink}, dbz: d}
	}
	return &pipeline.Lines{Encoder: enc, Sink: sink}
}

var _ format.TransactionEnder = (*format.Debezium)(nil)

type txLines struct {
	pipeline.Lines
	dbz *format.Debezium
	buf []byte
}

func (l *txLines) Write(events []change.Event, cp position.Checkpoint) error {
	if err := l.Lines.Write(events, cp); err != nil {
		return err
	}
	if cp.File == "" || cp.Skip != 0 {
		return nil // inside a transaction (or no position): not at a commit
	}
	l.buf = l.dbz.AppendTransactionEnd(l.buf[:0])
	if len(l.buf) == 0 {
		return nil
	}
	return l.Sink.Write(l.buf)
}
