package schema

import (
	"reflect"
	"testing"
)

func TestStatementEngine(t *testing.T) {
	h, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sql  string
		want TableEngine
	}{
		{"CREATE TABLE t (a INT) ENGINE=MEMORY", TableEngine{Name: "t", Engine: "MEMORY", Create: true}},
		{"create table `d`.`t` (a int, engine int) engine heap default charset=latin1", TableEngine{Schema: "d", Name: "t", Engine: "HEAP", Create: true}},
		{"CREATE TABLE t (a INT COMMENT 'ENGINE=MEMORY')", TableEngine{Name: "t", Create: true}},
		{"CREATE TABLE t2 LIKE d.src", TableEngine{Name: "t2", Create: true, Like: "d.src"}},
		{"CREATE TEMPORARY TABLE t (a INT) ENGINE=MEMORY", TableEngine{}},
		{"ALTER TABLE d.t ENGINE = 'BLACKHOLE'", TableEngine{Schema: "d", Name: "t", Engine: "BLACKHOLE"}},
		{"ALTER TABLE d.t ADD COLUMN b INT", TableEngine{Schema: "d", Name: "t"}},
		{"ALTER TABLE d.t ENGINE=InnoDB, RENAME TO u", TableEngine{Schema: "d", Name: "t", Engine: "INNODB", Renames: [][2]string{{"d.t", "u"}}}},
		{"RENAME TABLE a TO b, d.c TO e.f", TableEngine{Renames: [][2]string{{"a", "b"}, {"d.c", "e.f"}}}},
		{"INSERT INTO t VALUES (1)", TableEngine{}},
	}
	for _, c := range cases {
		if got := h.StatementEngine(c.sql, false); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.sql, got, c.want)
		}
	}
}

func TestEnginesRewindAndPersist(t *testing.T) {
	dir := t.TempDir()
	h, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h.EnginesTracked() {
		t.Fatal("a new history tracks engines")
	}
	h.TrackEngines(Mark{File: "b.000001", Pos: 3}, map[[2]string]string{{"d", "m"}: "MEMORY"})
	h.SetEngine("d", "t", "MEMORY", Mark{File: "b.000001", Pos: 100})
	h.SetEngine("d", "m", "", Mark{File: "b.000001", Pos: 200})
	if !h.SetEngine("d", "t", "", Mark{File: "b.000002", Pos: 4}) || h.SetEngine("d", "t", "", Mark{File: "b.000002", Pos: 9}) {
		t.Error("SetEngine does not report changes right")
	}
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	h, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Engines(); len(got) != 0 {
		t.Errorf("at the end: %v, want none", got)
	}
	h.Rewind(Mark{File: "b.000001", Pos: 150})
	if got := h.Engines(); !reflect.DeepEqual(got, map[string]string{"d.m": "MEMORY", "d.t": "MEMORY"}) {
		t.Errorf("rewound to 150: %v", got)
	}
	h.Rewind(Mark{File: "b.000001", Pos: 4})
	if got := h.Engines(); !reflect.DeepEqual(got, map[string]string{"d.m": "MEMORY"}) || !h.EnginesTracked() {
		t.Errorf("rewound to the start: %v (tracked %v)", got, h.EnginesTracked())
	}
	h.Rewind(Mark{File: "b.000001", Pos: 3})
	if h.EnginesTracked() || len(h.Engines()) != 0 {
		t.Error("rewound before the tracking began: still tracked")
	}
}
