package source

import (
	"testing"
	"time"
)

func TestZoneOf(t *testing.T) {
	for _, c := range []struct {
		tz, sys string
		offset  int64
		want    string
		exact   bool
		atNoon  int // offset in seconds on 2024-07-01
	}{
		{"+05:30", "UTC", 19800, "+05:30", true, 19800},
		{"-03:00", "", -10800, "-03:00", true, -10800},
		{"+00:00", "CEST", 0, "UTC", true, 0},
		{"SYSTEM", "UTC", 0, "UTC", true, 0},
		{"Europe/Berlin", "UTC", 3600, "Europe/Berlin", true, 7200},
		{"SYSTEM", "IST", 19800, "+05:30", false, 19800}, // an abbreviation: the current offset
		{"SYSTEM", "", -18000, "-05:00", false, -18000},
	} {
		loc, exact := zoneOf(c.tz, c.sys, c.offset)
		_, off := timeAt(loc)
		if loc.String() != c.want || exact != c.exact || off != c.atNoon {
			t.Errorf("zoneOf(%q, %q, %d) = %s (exact %v, offset %d), want %s (exact %v, offset %d)", c.tz, c.sys, c.offset, loc, exact, off, c.want, c.exact, c.atNoon)
		}
	}
}

func timeAt(loc *time.Location) (string, int) {
	return time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC).In(loc).Zone()
}
