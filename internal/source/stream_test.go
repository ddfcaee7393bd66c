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
