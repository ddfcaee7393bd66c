package engine

import (
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/format"
)

// encoderFactory returns what makes a fresh encoder of the configured
// --format for each output (encoders keep per-stream state: schemas sent,
// the open transaction).
func encoderFactory(cfg *config.Config, version string) func() (format.Encoder, error) {
	return func() (format.Encoder, error) {
		if cfg.Format == "debezium" {
			return format.NewDebezium(debeziumOptions(cfg, version))
		}
		return format.NewMaxScale(cfg.BinaryFormat, cfg.SendSchema), nil
	}
}

func debeziumOptions(cfg *config.Config, version string) format.DebeziumOptions {
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
