// Package target is the database-target output: it mirrors the captured
// tables into PostgreSQL (--output postgres://...), MySQL or MariaDB
// (--output mysql://...) or an embedded DuckDB (--output duckdb): first the
// initial snapshot, then every change upsert-merged by primary key, in
// batches that commit together with bintap's position in a state table of
// the target, so a crash repeats nothing. Optional append-only _log tables
// keep every change.
package target
