package index

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/bintap/bintap/internal/change"
)

// RecoverScript writes the SQL that undoes changes, which must be ordered
// newest first (Query's default): a DELETE becomes an INSERT of the before
// image, an UPDATE an UPDATE back to the before image of the columns it
// changed (matched by the key of the after image), an INSERT a DELETE.
// Generated columns are never written. Rows of tables without a primary key
// are matched on all their columns with LIMIT 1, and the script says so.
// zone is the time zone TIMESTAMP values were indexed in.
func (s *Store) RecoverScript(ctx context.Context, w io.Writer, changes []Change, zone, header string) error {
	defs := map[int64]*change.Table{}
	var b bytes.Buffer
	b.WriteString(comment(header))
	fmt.Fprintf(&b, "-- %d change(s) undone, newest first. Review before running; run it as one transaction.\n", len(changes))
	b.WriteString("SET NAMES utf8mb4;\n")
	// Values are written exactly as indexed: TIMESTAMP in the index's zone,
	// strings with backslash escapes, zero dates as they were.
	fmt.Fprintf(&b, "SET SESSION time_zone = %s;\n", quote(zoneOffset(zone)))
	b.WriteString("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO';\n")
	b.WriteString("START TRANSACTION;\n")
	noKeyNoted := map[string]bool{}
	for i := range changes {
		c := &changes[i]
		t, ok := defs[c.DefinitionID]
		if !ok {
			var err error
			if t, err = s.Definition(ctx, c.DefinitionID); err != nil {
				return err
			}
			defs[c.DefinitionID] = t
		}
		line := fmt.Sprintf("change %d: %s at %s, GTID %s, %s:%d event %d", c.ID, c.Type, c.CommitTime.Format("2006-01-02 15:04:05"), orNone(c.GTID), c.File, c.Pos, c.EventNumber)
		if c.PK != "" {
			line += ", key " + c.PK
		}
		b.WriteString(comment(line))
		if len(t.PrimaryKey) == 0 && !noKeyNoted[t.FullName()] {
			noKeyNoted[t.FullName()] = true
			b.WriteString(comment(t.FullName() + " has no primary key: rows are matched on all their columns (except FLOAT/DOUBLE and generated ones) with LIMIT 1;"))
			b.WriteString(comment("if identical rows exist, any one of them is changed."))
		}
		stmt, err := revert(t, c)
		if err != nil {
			return fmt.Errorf("change %d: %w", c.ID, err)
		}
		b.WriteString(stmt)
		b.WriteString(";\n")
	}
	b.WriteString("COMMIT;\n")
	_, err := w.Write(b.Bytes())
	return err
}

// comment writes text as SQL comment lines: whatever it holds (a filter
// value, a table name) cannot end the comment and become a statement.
func comment(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString("-- ")
		b.WriteString(strings.ReplaceAll(line, "\r", " "))
		b.WriteByte('\n')
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// zoneOffset is the session time_zone value for an IANA zone name: UTC as
// an offset, which needs no time zone tables on the server.
func zoneOffset(zone string) string {
	if zone == "" || zone == "UTC" || zone == "Etc/UTC" {
		return "+00:00"
	}
	return zone
}

// image is a decoded row image: column name → raw JSON value.
type image map[string]json.RawMessage

func parseImage(s string) (image, error) {
	if s == "" {
		return nil, nil
	}
	var m image
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("row image: %w", err)
	}
	return m, nil
}

// revert builds the statement that undoes one change.
func revert(t *change.Table, c *Change) (string, error) {
	before, err := parseImage(c.Before)
	if err != nil {
		return "", err
	}
	after, err := parseImage(c.After)
	if err != nil {
		return "", err
	}
	name := quoteIdent(t.Schema) + "." + quoteIdent(t.Name)
	switch c.Type {
	case "delete":
		var cols, vals []string
		for i := range t.Columns {
			col := &t.Columns[i]
			raw, ok := before[col.Name]
			if col.Generated || !ok {
				continue
			}
			lit, err := literal(col, raw)
			if err != nil {
				return "", err
			}
			cols = append(cols, quoteIdent(col.Name))
			vals = append(vals, lit)
		}
		return "INSERT INTO " + name + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ")", nil
	case "update":
		var changed []string
		if c.Changed != "" {
			if err := json.Unmarshal([]byte(c.Changed), &changed); err != nil {
				return "", fmt.Errorf("changed columns: %w", err)
			}
		}
		isChanged := map[string]bool{}
		for _, n := range changed {
			isChanged[n] = true
		}
		var sets []string
		for i := range t.Columns {
			col := &t.Columns[i]
			raw, ok := before[col.Name]
			if col.Generated || !ok || !isChanged[col.Name] {
				continue
			}
			lit, err := literal(col, raw)
			if err != nil {
				return "", err
			}
			sets = append(sets, quoteIdent(col.Name)+" = "+lit)
		}
		if len(sets) == 0 {
			return "-- (no column changed: nothing to undo)", nil
		}
		where, err := match(t, after)
		if err != nil {
			return "", err
		}
		return "UPDATE " + name + " SET " + strings.Join(sets, ", ") + " WHERE " + where, nil
	case "insert":
		where, err := match(t, after)
		if err != nil {
			return "", err
		}
		return "DELETE FROM " + name + " WHERE " + where, nil
	}
	return "", fmt.Errorf("unknown change type %q", c.Type)
}

// match is the WHERE clause that finds the row of img: its primary key, or
// all its comparable columns with LIMIT 1 when the table has none.
func match(t *change.Table, img image) (string, error) {
	var conds []string
	add := func(col *change.Column) error {
		raw, ok := img[col.Name]
		if !ok {
			return nil
		}
		lit, err := literal(col, raw)
		if err != nil {
			return err
		}
		conds = append(conds, quoteIdent(col.Name)+" <=> "+lit)
		return nil
	}
	if len(t.PrimaryKey) > 0 {
		for _, ci := range t.PrimaryKey {
			col := &t.Columns[ci]
			if _, ok := img[col.Name]; !ok {
				return "", fmt.Errorf("key column %s is missing from the row image", col.Name)
			}
			if err := add(col); err != nil {
				return "", err
			}
		}
		return strings.Join(conds, " AND "), nil
	}
	for i := range t.Columns {
		col := &t.Columns[i]
		// A FLOAT compared with its decimal text does not match; generated
		// columns follow from the others.
		if col.Generated || col.Type == "float" || col.Type == "double" || col.Type == "real" {
			continue
		}
		if err := add(col); err != nil {
			return "", err
		}
	}
	if len(conds) == 0 {
		return "", fmt.Errorf("no column of %s can identify the row", t.FullName())
	}
	return strings.Join(conds, " AND ") + " LIMIT 1", nil
}

// isBinary reports whether the index holds the column's values as hex.
func isBinary(c *change.Column) bool {
	switch c.Type {
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		return true
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return strings.EqualFold(c.Charset, "binary")
	}
	return false
}

// literal writes one indexed JSON value as an exact SQL literal for column c.
func literal(c *change.Column, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", fmt.Errorf("column %s: empty value", c.Name)
	}
	if string(raw) == "null" {
		return "NULL", nil
	}
	if raw[0] != '"' {
		// A number, already in the server's exact text.
		if c.Type == "bit" {
			n, ok := new(big.Int).SetString(string(raw), 10)
			if !ok || n.Sign() < 0 {
				return "", fmt.Errorf("column %s: BIT value %s is not an unsigned integer", c.Name, raw)
			}
			return "b'" + n.Text(2) + "'", nil
		}
		for _, ch := range raw {
			if !strings.ContainsRune("0123456789+-.eE", rune(ch)) {
				return "", fmt.Errorf("column %s: value %s is not a number", c.Name, raw)
			}
		}
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("column %s: %w", c.Name, err)
	}
	switch {
	case isBinary(c):
		if _, err := hex.DecodeString(s); err != nil {
			return "", fmt.Errorf("column %s: binary value is not hex: %w", c.Name, err)
		}
		return "X'" + s + "'", nil
	case change.IsGeometryType(change.BaseType(c.Type)):
		return "ST_GeomFromText(" + quote(s) + ")", nil
	}
	return quote(s), nil
}

// quote writes s as a string literal (with backslash escapes, which the
// script's sql_mode keeps on).
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\'':
			b.WriteString(`\'`)
		case '\\':
			b.WriteString(`\\`)
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case 0x1a:
			b.WriteString(`\Z`)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// quoteIdent quotes an identifier with backticks.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
