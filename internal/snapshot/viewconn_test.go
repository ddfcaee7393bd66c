package snapshot

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/testutil"
)

// The binary protocol's temporal values must read as the text the server
// prints for them (the end-to-end type tests compare whole snapshots with
// the binlog; these are the edges).
func TestBinaryTemporalText(t *testing.T) {
	dt := func(y, mo, d, h, mi, s int, us uint32, n int) []byte {
		b := make([]byte, 11)
		binary.LittleEndian.PutUint16(b, uint16(y))
		b[2], b[3], b[4], b[5], b[6] = byte(mo), byte(d), byte(h), byte(mi), byte(s)
		binary.LittleEndian.PutUint32(b[7:], us)
		return b[:n]
	}
	tm := func(neg bool, days uint32, h, mi, s int, us uint32, n int) []byte {
		b := make([]byte, 12)
		if neg {
			b[0] = 1
		}
		binary.LittleEndian.PutUint32(b[1:], days)
		b[5], b[6], b[7] = byte(h), byte(mi), byte(s)
		binary.LittleEndian.PutUint32(b[8:], us)
		return b[:n]
	}
	cases := []struct {
		typ      byte
		b        []byte
		decimals int
		want     string
	}{
		{mysql.MYSQL_TYPE_DATE, dt(2024, 2, 29, 0, 0, 0, 0, 4), 0, "2024-02-29"},
		{mysql.MYSQL_TYPE_DATE, nil, 0, "0000-00-00"},
		{mysql.MYSQL_TYPE_DATE, dt(2024, 0, 0, 0, 0, 0, 0, 4), 0, "2024-00-00"},
		{mysql.MYSQL_TYPE_DATETIME, nil, 0, "0000-00-00 00:00:00"},
		{mysql.MYSQL_TYPE_DATETIME, nil, 6, "0000-00-00 00:00:00.000000"},
		{mysql.MYSQL_TYPE_DATETIME, dt(9999, 12, 31, 0, 0, 0, 0, 4), 3, "9999-12-31 00:00:00.000"},
		{mysql.MYSQL_TYPE_DATETIME, dt(1, 1, 1, 23, 59, 59, 0, 7), 0, "0001-01-01 23:59:59"},
		{mysql.MYSQL_TYPE_DATETIME, dt(2024, 1, 1, 0, 0, 1, 120000, 11), 2, "2024-01-01 00:00:01.12"},
		{mysql.MYSQL_TYPE_DATETIME, dt(2024, 1, 1, 0, 0, 1, 999999, 11), 6, "2024-01-01 00:00:01.999999"},
		{mysql.MYSQL_TYPE_TIMESTAMP, dt(2038, 1, 19, 3, 14, 7, 500, 11), 4, "2038-01-19 03:14:07.0005"},
		{mysql.MYSQL_TYPE_TIME, nil, 0, "00:00:00"},
		{mysql.MYSQL_TYPE_TIME, nil, 3, "00:00:00.000"},
		{mysql.MYSQL_TYPE_TIME, tm(false, 0, 1, 2, 3, 0, 8), 0, "01:02:03"},
		{mysql.MYSQL_TYPE_TIME, tm(true, 34, 22, 59, 59, 0, 8), 0, "-838:59:59"},
		{mysql.MYSQL_TYPE_TIME, tm(false, 34, 22, 59, 59, 0, 8), 0, "838:59:59"},
		{mysql.MYSQL_TYPE_TIME, tm(true, 0, 0, 0, 0, 500000, 12), 1, "-00:00:00.5"},
		{mysql.MYSQL_TYPE_TIME, tm(false, 4, 4, 0, 0, 1, 12), 6, "100:00:00.000001"},
	}
	for _, c := range cases {
		var got []byte
		var err error
		if c.typ == mysql.MYSQL_TYPE_TIME {
			got, err = appendBinaryTime(nil, c.b, c.decimals)
		} else {
			got, err = appendBinaryDateTime(nil, c.b, c.typ, c.decimals)
		}
		if err != nil || string(got) != c.want {
			t.Errorf("type %d % x (%d decimals): got %q, %v; want %q", c.typ, c.b, c.decimals, got, err, c.want)
		}
	}
	if _, err := appendBinaryTime(nil, make([]byte, 5), 0); err == nil {
		t.Error("a TIME of 5 bytes was accepted")
	}
	if _, err := appendBinaryDateTime(nil, make([]byte, 3), mysql.MYSQL_TYPE_DATETIME, 0); err == nil {
		t.Error("a DATETIME of 3 bytes was accepted")
	}
}

// A binary row with every kind of column, NULLs and a short packet.
func TestBinaryRow(t *testing.T) {
	fields := []binField{
		{typ: mysql.MYSQL_TYPE_LONGLONG, unsigned: true},
		{typ: mysql.MYSQL_TYPE_LONG},
		{typ: mysql.MYSQL_TYPE_DOUBLE},
		{typ: mysql.MYSQL_TYPE_VAR_STRING},
		{typ: mysql.MYSQL_TYPE_DATETIME, decimals: 6},
		{typ: mysql.MYSQL_TYPE_NEWDECIMAL},
		{typ: mysql.MYSQL_TYPE_YEAR, unsigned: true},
		{typ: mysql.MYSQL_TYPE_TINY},
		{typ: mysql.MYSQL_TYPE_BLOB},
	}
	row := []byte{0, 0, 0x80 >> 0} // header, null bitmap (offset 2): 9+2 bits = 2 bytes
	row = row[:1]
	row = append(row, 0, 0x02) // column 7 (bit 9) is NULL
	row = binary.LittleEndian.AppendUint64(row, 18446744073709551615)
	row = binary.LittleEndian.AppendUint32(row, uint32(0xffffffff)) // -1
	row = binary.LittleEndian.AppendUint64(row, 0x3fb999999999999a) // 0.1
	row = append(row, 3, 'a', 'b', 'c')
	row = append(row, 11)
	row = binary.LittleEndian.AppendUint16(row, 2024)
	row = append(row, 5, 6, 7, 8, 9)
	row = binary.LittleEndian.AppendUint32(row, 10)
	row = append(row, 4, '1', '.', '5', '0')
	row = binary.LittleEndian.AppendUint16(row, 0) // YEAR 0000
	row = append(row, 0)                           // empty BLOB, not NULL
	cols := make([]cell, len(fields))
	text, err := binaryRow(row, fields, cols, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = text
	if cols[0].num != numUint || cols[0].u != 18446744073709551615 {
		t.Errorf("BIGINT UNSIGNED: %+v", cols[0])
	}
	if cols[1].num != numInt || cols[1].i != -1 {
		t.Errorf("INT: %+v", cols[1])
	}
	if cols[2].num != numFloat || cols[2].f != 0.1 {
		t.Errorf("DOUBLE: %+v", cols[2])
	}
	if string(cols[3].text) != "abc" || string(cols[4].text) != "2024-05-06 07:08:09.000010" || string(cols[5].text) != "1.50" {
		t.Errorf("text columns: %q %q %q", cols[3].text, cols[4].text, cols[5].text)
	}
	if cols[6].num != numUint || cols[6].u != 0 {
		t.Errorf("YEAR: %+v", cols[6])
	}
	if cols[7].num != 0 || cols[7].text != nil {
		t.Errorf("NULL TINYINT: %+v", cols[7])
	}
	if cols[8].num != 0 || cols[8].text == nil || len(cols[8].text) != 0 {
		t.Errorf("empty BLOB: %+v", cols[8])
	}
	for n := 1; n < len(row)-1; n++ {
		if _, err := binaryRow(row[:n], fields, cols, nil); err == nil {
			t.Errorf("a row cut to %d of %d bytes was accepted", n, len(row))
		}
	}
}

// TestViewConnProtocolsAgree reads the same rows with the binary protocol
// and the text protocol from a real server: every value must read the
// same, temporal text byte for byte.
func TestViewConnProtocolsAgree(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE p",
		`CREATE TABLE p.t (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED,
			bu BIGINT UNSIGNED, bs BIGINT, z INT(6) ZEROFILL, y YEAR, d DOUBLE, f FLOAT, dec1 DECIMAL(20,6),
			da DATE, dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6), ts2 TIMESTAMP(2) NULL, t0 TIME, t6 TIME(6),
			b BIT(12), e ENUM('a','b'), st SET('x','y','z'), j JSON, v VARCHAR(20), bl BLOB, u UUID, i6 INET6)`,
		`SET SESSION sql_mode = ''; INSERT INTO p.t VALUES
			(1, -128, 255, -32768, 16777215, 18446744073709551615, -9223372036854775808, 42, 0, 0.1, 0.1, -12345678901234.000001,
			 '0000-00-00', '0000-00-00 00:00:00', '2024-02-29 23:59:59.999', '0001-01-01 00:00:00.000001', '2038-01-19 03:14:07.99',
			 '-838:59:59', '-00:00:00.5', b'101010101010', 'b', 'x,z', '{"a": [1, "é"]}', 'café', x'00ff', '123e4567-e89b-12d3-a456-426655440000', '::1'),
			(2, 127, 0, 32767, 0, 0, 9223372036854775807, 0, 2155, -1.5e300, 3.4e38, 0,
			 '2024-00-00', '9999-12-31 23:59:59', '2024-01-01 00:00:00', '2024-01-01 00:00:00', '1970-01-01 00:00:01',
			 '838:59:59', '100:00:00.000001', b'0', '', '', 'null', '', '', NULL, NULL),
			(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
			 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	ctx := context.Background()
	v := openView(t, s)
	if err := v.exec(ctx, "SET time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	const q = "SELECT *, CAST(f AS DOUBLE) FROM p.t ORDER BY id"
	read := func() (out [][]cell) {
		err := v.rows(ctx, q, func(cols []cell) error {
			row := make([]cell, len(cols))
			for i, c := range cols {
				row[i] = c
				if c.text != nil {
					row[i].text = append([]byte{}, c.text...)
				}
			}
			out = append(out, row)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	bin := read()
	v.textOnly = true
	text := read()
	if len(bin) != 3 || len(text) != 3 {
		t.Fatalf("rows: binary %d, text %d, want 3", len(bin), len(text))
	}
	numbers := 0
	for r := range bin {
		for i := range bin[r] {
			b, x := &bin[r][i], &text[r][i]
			if x.num != 0 {
				t.Fatalf("row %d column %d: the text protocol gave a number", r+1, i+1)
			}
			switch b.num {
			case 0:
				if (b.text == nil) != (x.text == nil) || string(b.text) != string(x.text) {
					t.Errorf("row %d column %d: binary %q, text %q", r+1, i+1, b.text, x.text)
				}
			case numFloat:
				numbers++
				f, err := strconv.ParseFloat(string(x.text), 64)
				if i == 10 { // FLOAT itself: the text has 6 digits, compare as float32
					if err != nil || float32(f) != float32(b.f) {
						t.Errorf("row %d FLOAT: binary %v, text %q", r+1, b.f, x.text)
					}
				} else if err != nil || f != b.f {
					t.Errorf("row %d column %d: binary %v, text %q", r+1, i+1, b.f, x.text)
				}
			default:
				numbers++
				if got := string(b.appendText(nil)); strings.TrimLeft(got, "0") != strings.TrimLeft(string(x.text), "0") {
					t.Errorf("row %d column %d: binary %s, text %q", r+1, i+1, got, x.text)
				}
			}
		}
	}
	if numbers == 0 {
		t.Fatal("the binary protocol gave no number: it was not used")
	}
}

// TestViewConnLargeValues: values larger than the packet reader's buffer,
// and one larger than a protocol packet (16 MiB, split over two), read
// whole in both protocols; the connection answers the next query.
func TestViewConnLargeValues(t *testing.T) {
	s := testutil.NewMariaDB(t, "--max-allowed-packet=64M")
	s.Exec("CREATE DATABASE p", "CREATE TABLE p.big (id INT PRIMARY KEY, b LONGBLOB)",
		"INSERT INTO p.big VALUES (1, REPEAT('a', 300000)), (2, REPEAT('b', 17000000)), (3, 'c')")
	ctx := context.Background()
	v := openView(t, s)
	want := map[int64]string{1: strings.Repeat("a", 300000), 2: strings.Repeat("b", 17000000), 3: "c"}
	for _, textOnly := range []bool{false, true, false} {
		v.textOnly = textOnly
		n := 0
		err := v.rows(ctx, "SELECT id, b FROM p.big ORDER BY id", func(cols []cell) error {
			n++
			id, _ := strconv.ParseInt(string(cols[0].appendText(nil)), 10, 64)
			if string(cols[1].text) != want[id] {
				t.Errorf("text only %v: row %d: %d bytes, want %d", textOnly, id, len(cols[1].text), len(want[id]))
			}
			return nil
		})
		if err != nil || n != 3 {
			t.Fatalf("text only %v: %d rows, %v", textOnly, n, err)
		}
	}
}

// openView opens a view connection to s, closed when the test ends.
func openView(t *testing.T, s *testutil.Server) *viewConn {
	t.Helper()
	cfg, err := config.Load("stream", []string{"--source", s.URL()}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	v, err := dialView(context.Background(), cfg.Source)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}
