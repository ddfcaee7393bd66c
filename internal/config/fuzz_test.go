package config

import (
	"net/url"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/dburl"
)

// FuzzLoad: --source, --output and one more setting from the fuzzer. No
// panic, and no error shows the source's or an output's password.
func FuzzLoad(f *testing.F) {
	f.Add("mysql://u:Pw7Secret@h:3306", "kafka://h:9092/t", "--kafka-delivery", "exactly-once")
	f.Add("mysql://u:Pw7Secret@h1,h2:3307?ssl-mode=verify-ca&ssl-ca=/x", "postgres://u:Pw7Secret@h/db?sslmode=require", "--target-table", "{database}_{table}")
	f.Add("mariadb://u:Pw7Secret@[::1]:3306", "index+mysql://u:Pw7Secret@h/idx", "--start", "0-1-5")
	f.Add("mysql://u:Pw7Secret@h", "files:///tmp/x", "--file-window", "90s")
	f.Add("mysql://u:Pw7Secret@h", "file:///tmp/x,-", "--tables", "db.t,db.u")
	f.Add("mysql://u:Pw7Secret@h", "duckdb", "--ssh", "me@bastion:22")
	f.Fuzz(func(t *testing.T, source, output, flag, value string) {
		if !strings.HasPrefix(flag, "--") || strings.Contains(flag, "=") || flag == "--config" || strings.HasSuffix(flag, "-file") {
			flag = "--start" // no files read by a fuzzer
		}
		_, err := Load("stream", []string{"--source", source, "--output", output, flag, value, "--state-dir", t.TempDir()}, noEnv)
		if err == nil {
			return
		}
		for _, v := range []string{source, output} {
			_, pw, _ := dburl.SplitPassword(v)
			if len(pw) < 6 || strings.Contains(strings.ReplaceAll(v, pw, ""), pw) || strings.Contains(value, pw) || strings.Contains(flag, pw) {
				continue // too short to tell, or also elsewhere in the input
			}
			for _, shown := range []string{pw, url.PathEscape(pw), url.QueryEscape(pw)} {
				if strings.Contains(err.Error(), shown) && !strings.Contains(strings.ReplaceAll(strings.ReplaceAll(v, pw, ""), "@", ""), shown) {
					t.Fatalf("the error shows the password %q: %v", pw, err)
				}
			}
		}
	})
}

// FuzzDBURL: the database URLs of targets and remote indexes.
func FuzzDBURL(f *testing.F) {
	for _, s := range []string{"postgres://u:Pw7Secret@h:5432/db?sslmode=verify-full&sslrootcert=/ca", "mysql://u:Pw7Secret@h/db?tls=skip-verify",
		"mariadb://u@h/db", "postgresql://u:Pw7Secret@[::1]/db?connect_timeout=5", "mysql://u:p%40ss@h/db"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := dburl.Parse(raw, "target URL")
		_, pw, _ := dburl.SplitPassword(raw)
		if len(pw) < 6 || strings.Count(raw, pw) > 1 {
			return
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Fatalf("the error shows the password: %v", err)
		}
		if err == nil && strings.Contains(u.Redacted, pw) {
			t.Fatalf("the redacted URL shows the password: %s", u.Redacted)
		}
	})
}

// FuzzRedact: whatever surrounds it, a password in user:password@ form is
// hidden.
func FuzzRedact(f *testing.F) {
	f.Add("mysql", "u", "Pw7Secret", "h:3306/db?x=1")
	f.Add("kafka", "", "a/b?c", "h/t")
	f.Fuzz(func(t *testing.T, scheme, user, pw, rest string) {
		if len(pw) < 6 || strings.ContainsAny(pw, "@") || strings.ContainsAny(user, ":@/?") || strings.Contains(scheme+user+rest, pw) {
			return
		}
		v := scheme + "://" + user + ":" + pw + "@" + rest
		if strings.Contains(scheme+"://"+user+":xxxxx@"+rest, pw) {
			return // the password is also made of what surrounds it
		}
		if got := Redact(v); strings.Contains(got, pw) {
			t.Fatalf("Redact(%q) = %q", v, got)
		}
	})
}
