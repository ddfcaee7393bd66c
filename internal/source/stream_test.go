package source

import "testing"

func TestMariaDBAtLeast(t *testing.T) {
	cases := []struct {
		v    string
		want bool
	}{
		{"10.11.19-MariaDB-0+deb12u1-log", false},
		{"11.4.3-MariaDB", true},
		{"11.3.9-MariaDB", false},
		{"12.0.1-MariaDB", true},
		{"garbage", false},
	}
	for _, c := range cases {
		if got := mariaDBAtLeast(c.v, 11, 4); got != c.want {
			t.Errorf("mariaDBAtLeast(%q, 11, 4) = %v", c.v, got)
		}
	}
}

func TestTruncated(t *testing.T) {
	for q, want := range map[string]string{
		"TRUNCATE TABLE t":                 "d.t",
		"truncate `x`.`a``b`":              "x.a`b",
		"TRUNCATE TABLE w . t ;":           "w.t",
		"TRUNCATE t1, t2":                  "",
		"TRUNCATE TABLE t PARTITION p":     "",
		"CREATE TABLE truncate_me (i INT)": "",
	} {
		db, name, ok := truncated("d", q)
		got := ""
		if ok {
			got = db + "." + name
		}
		if got != want {
			t.Errorf("truncated(%q) = %q, want %q", q, got, want)
		}
	}
}
