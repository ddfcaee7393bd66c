package binlog

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/testutil"
)

// rowsChange is one decoded row of a rows event, copied out of the decoder.
type rowsChange struct {
	table     string
	eventType replication.EventType
	before    []string // rendered values; nil when no image
	after     []string
	kinds     []change.Kind
}

// render turns a value into the text the server prints for it (the test's
// oracle format): numbers in decimal, bytes in upper-case hex, NULL as
// "NULL", a missing column as "MISSING".
func render(v change.Value) string {
	switch v.Kind {
	case change.KindNull:
		return "NULL"
	case change.KindMissing:
		return "MISSING"
	case change.KindInt, change.KindYear:
		return strconv.FormatInt(v.Int, 10)
	case change.KindUint, change.KindBit:
		return strconv.FormatUint(v.Uint, 10)
	case change.KindFloat:
		return strconv.FormatFloat(v.Float, 'g', -1, 32)
	case change.KindDouble:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case change.KindBytes:
		return fmt.Sprintf("%X", v.Text)
	}
	return string(v.Text)
}

func renderRow(row []change.Value) []string {
	if row == nil {
		return nil
	}
	out := make([]string, len(row))
	for i, v := range row {
		out[i] = render(v)
	}
	return out
}

// readBinlog streams the server's binlog from its first file up to the
// current end and decodes every rows event with a TableDecoder. tables gives
// the definition per "schema.table"; when nil for a table, the definition
// comes from TableFromMetadata.
func readBinlog(t *testing.T, s *testutil.Server, tables map[string]*change.Table) []rowsChange {
	t.Helper()
	return readBinlogWith(t, s, func(tm *replication.TableMapEvent) *change.Table {
		if def := tables[string(tm.Schema)+"."+string(tm.Table)]; def != nil {
			return def
		}
		return TableFromMetadata(tm)
	})
}

// readBinlogWith is readBinlog with the definitions given by def.
func readBinlogWith(t *testing.T, s *testutil.Server, def func(*replication.TableMapEvent) *change.Table) []rowsChange {
	t.Helper()
	var endFile string
	var endPos uint32
	var d1, d2, d3, d4 any
	row := s.DB.QueryRow("SHOW MASTER STATUS")
	if err := row.Scan(&endFile, &endPos, &d1, &d2); err != nil {
		t.Fatalf("show master status: %v", err)
	}
	_ = d3
	_ = d4
	var firstFile string
	var size any
	if err := s.DB.QueryRow("SHOW BINARY LOGS").Scan(&firstFile, &size); err != nil {
		t.Fatalf("show binary logs: %v", err)
	}
	cfg := replication.BinlogSyncerConfig{
		ServerID:            uint32(1000 + time.Now().UnixNano()%1000),
		Flavor:              "mariadb",
		Host:                "127.0.0.1",
		Port:                uint16(s.Port),
		User:                "root",
		RowsEventDecodeFunc: HeaderOnly,
		Logger:              slog.New(slog.DiscardHandler),
	}
	syncer := replication.NewBinlogSyncer(cfg)
	defer syncer.Close()
	streamer, err := syncer.StartSync(mysql.Position{Name: firstFile, Pos: 4})
	if err != nil {
		t.Fatalf("start sync: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	decoders := map[uint64]*TableDecoder{}
	var out []rowsChange
	file := firstFile
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatalf("get event: %v", err)
		}
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			file = string(e.NextLogName)
		case *replication.TableMapEvent:
			name := string(e.Schema) + "." + string(e.Table)
			if string(e.Schema) == "mysql" {
				continue
			}
			def := def(e)
			if def == nil {
				delete(decoders, e.TableID)
				continue
			}
			dec, err := NewTableDecoder(e, def, Options{})
			if err != nil {
				t.Fatalf("decoder for %s: %v", name, err)
			}
			decoders[e.TableID] = dec
		case *replication.RowsEvent:
			dec := decoders[e.TableID]
			if dec == nil {
				continue
			}
			et := ev.Header.EventType
			err := dec.DecodeRows(et, e, func(before, after []change.Value) error {
				rc := rowsChange{table: dec.Table().FullName(), eventType: et, before: renderRow(before), after: renderRow(after)}
				img := after
				if img == nil {
					img = before
				}
				for _, v := range img {
					rc.kinds = append(rc.kinds, v.Kind)
				}
				out = append(out, rc)
				return nil
			})
			if err != nil {
				t.Fatalf("decode rows: %v", err)
			}
		}
		if file == endFile && ev.Header.LogPos >= endPos {
			return out
		}
	}
}

// expected queries the server for the oracle rendering of every column of
// table, rows ordered by the first column.
func expected(t *testing.T, s *testutil.Server, table string, exprs []string) [][]string {
	t.Helper()
	ctx := context.Background()
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET time_zone='+00:00'"); err != nil {
		t.Fatal(err)
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + table + " ORDER BY 1"
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(exprs))
		ptrs := make([]any, len(exprs))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := make([]string, len(exprs))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				r[i] = "NULL"
			case []byte:
				r[i] = string(x)
			default:
				r[i] = fmt.Sprint(x)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// testdataDir finds the shared MySQL binlog files (testutil.SharedTestdata).
func testdataDir(t testing.TB) string {
	t.Helper()
	return testutil.SharedTestdata(t, "mysql-binlogs")
}

// TestHeaderOnlyTruncated: a truncated rows event is an error, never a panic.
func TestHeaderOnlyTruncated(t *testing.T) {
	for n := 0; n < 12; n++ {
		re := &replication.RowsEvent{Version: 2}
		data := make([]byte, n)
		for i := range data {
			data[i] = 0xff // an extra-data length running past the end
		}
		if err := HeaderOnly(re, data); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%d bytes: %v, want a malformed-event error", n, err)
		}
	}
}
