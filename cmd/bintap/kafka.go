package main

import (
	"context"
	"log/slog"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/sink/kafka"
)

// openKafka opens the kafka:// output o. ctx is the stream's: once it ends,
// delivery of what is buffered is bounded by kafka_flush_timeout.
func openKafka(ctx context.Context, cfg *config.Config, o string, log *slog.Logger) (pipeline.Destination, error) {
	enc, err := newEncoder(cfg)
	if err != nil {
		return nil, err
	}
	opt, err := kafka.OptionsFromConfig(cfg, o, enc, log)
	if err != nil {
		return nil, err
	}
	opt.Shutdown = ctx
	return kafka.New(opt)
}
