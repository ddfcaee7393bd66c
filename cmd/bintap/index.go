package main

// The change index: the --output index destination, and the query, recover
// and reconstruct commands that read it.

import (
	"os"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/pipeline"
	sinkindex "github.com/bintap/bintap/internal/sink/index"
)

// openIndexOutput opens the embedded change index in the state dir
// (--output index). --reset empties it along with the checkpoint.
func openIndexOutput(cfg *config.Config) (pipeline.Output, error) {
	path := index.Path(cfg.StateDir)
	store, err := index.Open(path)
	if err != nil {
		return pipeline.Output{}, err
	}
	if cfg.Reset {
		if err := store.Reset(); err != nil {
			store.Close()
			return pipeline.Output{}, err
		}
	}
	zone := "UTC"
	if cfg.TimeZone != nil {
		zone = cfg.TimeZone.String()
	}
	// recover writes TIMESTAMP literals in the zone they were indexed in.
	if err := store.SetMeta("timezone", zone); err != nil {
		store.Close()
		return pipeline.Output{}, err
	}
	d, err := sinkindex.New(store, sinkindex.Options{BatchSize: cfg.BatchSize, Retain: cfg.Retain, Log: newLogger(os.Stderr, cfg.LogLevel).With("output", "index")})
	if err != nil {
		store.Close()
		return pipeline.Output{}, err
	}
	return pipeline.Output{Name: "index", Dest: d}, nil
}
