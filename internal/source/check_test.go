package source

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// checkRunOn runs Check and returns the report and its printed text.
func checkRunOn(t *testing.T, db *sql.DB, opt CheckOptions) (*Report, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Check(ctx, db, opt)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	var b strings.Builder
	if err := rep.Print(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", b.String())
	return rep, b.String()
}

// checkWant asserts an item's status and that its detail and fix hold the
// given texts.
func checkWant(t *testing.T, rep *Report, name string, st CheckStatus, detail string, fix ...string) {
	t.Helper()
	it := rep.Item(name)
	if it == nil {
		t.Errorf("no item %q", name)
		return
	}
	if it.Status != st {
		t.Errorf("%s: status %s, want %s (%s)", name, it.Status, st, it.Detail)
	}
	if !strings.Contains(it.Detail, detail) {
		t.Errorf("%s: detail %q does not contain %q", name, it.Detail, detail)
	}
	for _, f := range fix {
		if !strings.Contains(it.Fix, f) {
			t.Errorf("%s: fix %q does not contain %q", name, it.Fix, f)
		}
	}
}

// checkPrinted asserts that the printed report holds each line.
func checkPrinted(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("printed report lacks the line %q", l)
		}
	}
}

func TestCheckWellConfigured(t *testing.T) {
	s := testutil.NewMariaDB(t, "--binlog-row-metadata=FULL", "--binlog-expire-logs-seconds=1209600", "--gtid-strict-mode=ON")
	s.Exec("CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, note VARCHAR(20)) ENGINE=InnoDB",
		"CREATE TABLE shop.items (order_id BIGINT, n INT, PRIMARY KEY (order_id, n)) ENGINE=InnoDB",
		"INSERT INTO shop.orders VALUES (1, 'a')")
	rep, out := checkRunOn(t, s.DB, CheckOptions{User: "root"})
	if rep.Failed() {
		t.Fatal("Failed() on a well-configured server")
	}
	if rep.Flavor != "mariadb" || !strings.HasPrefix(rep.Version, "1") || strings.Count(rep.Version, ".") != 2 {
		t.Errorf("flavor %q version %q", rep.Flavor, rep.Version)
	}
	for _, it := range rep.Items {
		if it.Status == CheckWarn || it.Status == CheckFail {
			t.Errorf("unexpected %s %s: %s", it.Status, it.Name, it.Detail)
		}
	}
	for _, name := range []string{"server", "log_bin", "server_id", "binlog_format", "binlog_row_image", "binlog_row_metadata",
		"binlog retention", "gtid_strict_mode", "REPLICATION SLAVE", "BINLOG MONITOR", "SELECT", "RELOAD", "primary keys"} {
		checkWant(t, rep, name, CheckOK, "")
	}
	checkWant(t, rep, "binlog retention", CheckOK, "binary logs are kept 14 days")
	checkWant(t, rep, "gtid", CheckInfo, "current binlog GTID position 0-1-")
	checkWant(t, rep, "captured tables", CheckInfo, "2 tables in 1 schema: shop")
	checkWant(t, rep, "account", CheckInfo, "connected as 'root'@'")
	checkPrinted(t, out,
		"[OK]   log_bin: the binary log is on",
		"[OK]   binlog_format: binlog_format is ROW",
		"[OK]   binlog_row_image: binlog_row_image is FULL",
		"[INFO] binlog_checksum: binlog_checksum is CRC32: bintap verifies every event",
		"[OK]   primary keys: every captured table has a primary key",
		"[INFO] views: views and temporary tables are never captured: changes made through a view are logged as changes of its base tables, and temporary tables never reach the binary log in ROW format; the captured schemas hold no views",
		"Result: ready to stream.")
	if !strings.HasPrefix(out, "bintap source check (MariaDB "+rep.Version+")\n") {
		t.Errorf("header: %q", strings.SplitN(out, "\n", 2)[0])
	}
}

func TestCheckMisconfigured(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		failed bool
		item   string
		status CheckStatus
		detail string
		fix    []string // lines of the fix as printed
	}{
		{"statement format", []string{"--binlog-format=STATEMENT"}, true, "binlog_format", CheckFail,
			"binlog_format is STATEMENT; bintap needs ROW",
			[]string{"       fix: SET GLOBAL binlog_format='ROW';   -- applies to new connections: reconnect applications that write",
				"            and in my.cnf under [mysqld], to keep it after a restart:",
				"              binlog_format=ROW"}},
		{"minimal image", []string{"--binlog-row-image=MINIMAL"}, true, "binlog_row_image", CheckFail,
			"binlog_row_image is MINIMAL; bintap needs FULL",
			[]string{"       fix: SET GLOBAL binlog_row_image='FULL';   -- applies to new connections: reconnect applications that write",
				"              binlog_row_image=FULL"}},
		{"no binlog", []string{"--skip-log-bin"}, true, "log_bin", CheckFail,
			"the binary log is off (log_bin=OFF)",
			[]string{"       fix: add to my.cnf under [mysqld], then restart the server:",
				"              log_bin=mysql-bin",
				"              server_id=1"}},
		{"short retention", []string{"--expire-logs-days=1", "--binlog-row-metadata=FULL"}, false, "binlog retention", CheckWarn,
			"binary logs are purged after 1 day; if bintap is stopped longer than that it cannot resume",
			[]string{"       fix: SET GLOBAL binlog_expire_logs_seconds=604800;   -- 7 days",
				"              binlog_expire_logs_seconds=604800"}},
		{"never purged", nil, false, "binlog retention", CheckWarn,
			"binlog_expire_logs_seconds=0: binary logs are never purged, so they grow until the disk is full",
			[]string{"       fix: SET GLOBAL binlog_expire_logs_seconds=604800;   -- 7 days"}},
		{"no row metadata", []string{"--binlog-row-metadata=MINIMAL"}, false, "binlog_row_metadata", CheckWarn,
			"binlog_row_metadata is MINIMAL (FULL recommended); without it row events carry no column names, ENUM/SET members or signedness, and bintap relies on its schema history",
			[]string{"       fix: SET GLOBAL binlog_row_metadata='FULL';", "              binlog_row_metadata=FULL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testutil.NewMariaDB(t, tc.args...)
			rep, out := checkRunOn(t, s.DB, CheckOptions{})
			if rep.Failed() != tc.failed {
				t.Errorf("Failed() = %v, want %v", rep.Failed(), tc.failed)
			}
			checkWant(t, rep, tc.item, tc.status, tc.detail)
			checkPrinted(t, out, fmt.Sprintf("%-6s %s: %s", "["+string(tc.status)+"]", tc.item, rep.Item(tc.item).Detail))
			checkPrinted(t, out, tc.fix...)
			if tc.failed && !strings.Contains(out, "bintap cannot stream from this server until the failures are fixed.") {
				t.Error("result line does not say streaming cannot work")
			}
		})
	}
}

// checkOpenAs opens a connection pool on the private server as another user.
func checkOpenAs(t *testing.T, s *testutil.Server, user, pw string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/", user, pw, s.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestCheckLimitedUser(t *testing.T) {
	s := testutil.NewMariaDB(t, "--binlog-row-metadata=FULL", "--binlog-expire-logs-seconds=604800")
	s.Exec("CREATE DATABASE shop", "CREATE DATABASE crm",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY)", "CREATE TABLE crm.people (id INT PRIMARY KEY)",
		"CREATE USER 'cdc'@'%' IDENTIFIED BY 'pw'",
		"GRANT SELECT ON shop.* TO 'cdc'@'%'")

	db := checkOpenAs(t, s, "cdc", "pw")
	rep, out := checkRunOn(t, db, CheckOptions{Schemas: []string{"shop", "crm"}, User: "cdc"})
	if !rep.Failed() {
		t.Fatal("Failed() is false for a user without replication privileges")
	}
	checkWant(t, rep, "account", CheckInfo, "connected as 'cdc'@'%'")
	checkWant(t, rep, "REPLICATION SLAVE", CheckFail, "'cdc'@'%' lacks REPLICATION SLAVE", "GRANT REPLICATION SLAVE ON *.* TO 'cdc'@'%';")
	checkWant(t, rep, "BINLOG MONITOR", CheckFail, "'cdc'@'%' lacks BINLOG MONITOR", "GRANT BINLOG MONITOR ON *.* TO 'cdc'@'%';")
	checkWant(t, rep, "SELECT on crm", CheckFail, "cannot read schema crm", "GRANT SELECT ON `crm`.* TO 'cdc'@'%';")
	checkWant(t, rep, "SELECT", CheckOK, "granted on shop")
	checkWant(t, rep, "RELOAD", CheckInfo, "not granted (optional)", "GRANT RELOAD ON *.* TO 'cdc'@'%';")
	checkWant(t, rep, "captured tables", CheckInfo, "1 table in 1 schema: shop")
	if n := rep.Count(CheckWarn); n != 0 {
		t.Errorf("%d warnings, want none (crm is reported once, as a missing grant)", n)
	}
	checkPrinted(t, out,
		"[FAIL] REPLICATION SLAVE: 'cdc'@'%' lacks REPLICATION SLAVE, which a client needs to read the binary log as a replica",
		"       fix: GRANT REPLICATION SLAVE ON *.* TO 'cdc'@'%';",
		"       fix: GRANT BINLOG MONITOR ON *.* TO 'cdc'@'%';",
		"[FAIL] SELECT on crm: 'cdc'@'%' cannot read schema crm, which is captured: bintap needs SELECT for snapshots and to read table definitions",
		"       fix: GRANT SELECT ON `crm`.* TO 'cdc'@'%';",
		"Result: 3 failures, 0 warnings. bintap cannot stream from this server until the failures are fixed.")

	// Fixed the way the report says, with REPLICATION SLAVE coming through
	// the account's default role: nothing fails any more.
	s.Exec("CREATE ROLE cdc_role", "GRANT REPLICATION SLAVE ON *.* TO cdc_role", "GRANT cdc_role TO 'cdc'@'%'",
		"SET DEFAULT ROLE cdc_role FOR 'cdc'@'%'",
		"GRANT BINLOG MONITOR ON *.* TO 'cdc'@'%'", "GRANT SELECT ON `crm`.* TO 'cdc'@'%'")
	db = checkOpenAs(t, s, "cdc", "pw")
	rep, _ = checkRunOn(t, db, CheckOptions{Schemas: []string{"shop", "crm"}, User: "cdc"})
	if rep.Failed() {
		t.Error("Failed() after granting what the report asked for")
	}
	checkWant(t, rep, "REPLICATION SLAVE", CheckOK, "granted")
	checkWant(t, rep, "SELECT", CheckOK, "granted on crm, shop")
	checkWant(t, rep, "captured tables", CheckInfo, "2 tables in 2 schemas: crm, shop")

	// Table-level grants count for tables captured one by one.
	s.Exec("CREATE USER 'one'@'127.0.0.1' IDENTIFIED BY 'pw'",
		"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'one'@'127.0.0.1'",
		"GRANT SELECT ON shop.orders TO 'one'@'127.0.0.1'")
	db = checkOpenAs(t, s, "one", "pw")
	rep, out = checkRunOn(t, db, CheckOptions{Tables: []string{"shop.orders", "crm.people"}})
	checkWant(t, rep, "SELECT", CheckOK, "granted on shop.orders")
	checkWant(t, rep, "SELECT on crm.people", CheckFail, "cannot read table crm.people",
		"GRANT SELECT ON `crm`.`people` TO 'one'@'127.0.0.1';")
	checkPrinted(t, out, "       fix: GRANT SELECT ON `crm`.`people` TO 'one'@'127.0.0.1';")
}

func TestCheckTables(t *testing.T) {
	s := testutil.NewMariaDB(t, "--binlog-row-metadata=FULL", "--binlog-expire-logs-seconds=604800")
	s.Exec("CREATE DATABASE shop", "CREATE DATABASE other",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, email VARCHAR(40))",
		"CREATE TABLE shop.log (at DATETIME, line TEXT)",
		"CREATE TABLE shop.people (email VARCHAR(40) NOT NULL, nick VARCHAR(20), UNIQUE KEY uk_nick (nick), UNIQUE KEY uk_email (email))",
		"CREATE TABLE shop.cache (k INT PRIMARY KEY, v INT) ENGINE=MEMORY",
		"CREATE VIEW shop.big_orders AS SELECT id FROM shop.orders WHERE id > 100",
		"CREATE TABLE other.nopk (a INT)",
		"CREATE TABLE other.keep (a INT PRIMARY KEY)",
		"CREATE TABLE other.sink (a INT PRIMARY KEY) ENGINE=MEMORY")
	blackhole := true
	if _, err := s.DB.Exec("INSTALL SONAME 'ha_blackhole'"); err != nil {
		t.Logf("no BLACKHOLE engine on this server (%v): that case is left out", err)
		blackhole = false
	} else {
		s.Exec("CREATE TABLE shop.void (a INT PRIMARY KEY) ENGINE=BLACKHOLE")
	}

	rep, out := checkRunOn(t, s.DB, CheckOptions{Schemas: []string{"shop", "mysql"}, Tables: []string{"other.keep", "other.gone"}})
	if rep.Failed() {
		t.Error("Failed() for table warnings")
	}
	checkWant(t, rep, "system schemas", CheckInfo, "never captured, so left out: mysql")
	// MEMORY and BLACKHOLE tables are not captured: not counted.
	checkWant(t, rep, "captured tables", CheckInfo, "4 tables in 2 schemas: other, shop")
	checkWant(t, rep, "not found", CheckWarn, "captured but not found (empty, misspelt, or not visible to 'root'@'127.0.0.1'): table other.gone")
	checkWant(t, rep, "primary keys", CheckWarn, "2 tables without a primary key: shop.log, shop.people. Their updates and deletes are keyed by all columns",
		"ALTER TABLE `shop`.`log` ADD PRIMARY KEY (<columns that identify a row>);",
		"ALTER TABLE `shop`.`people` ADD PRIMARY KEY (`email`);   -- the columns of its NOT NULL unique key uk_email")
	never := "MEMORY and BLACKHOLE tables are left out of the stream and of snapshots (what the binary log says of them is not what they hold): shop.cache (MEMORY)"
	if blackhole {
		never += ", shop.void (BLACKHOLE)"
	}
	checkWant(t, rep, "tables never captured", CheckWarn, never, "ALTER TABLE <table> ENGINE=InnoDB; to capture one")
	if strings.Contains(out, "other.sink") || strings.Contains(out, "other.nopk") {
		t.Error("tables outside the capture filter are reported")
	}
	checkWant(t, rep, "views", CheckInfo, "views in the captured schemas: shop.big_orders")
	lines := []string{
		"[WARN] not found: captured but not found (empty, misspelt, or not visible to 'root'@'127.0.0.1'): table other.gone",
		"[WARN] primary keys: 2 tables without a primary key: shop.log, shop.people. Their updates and deletes are keyed by all columns, which is slower and cannot tell identical rows apart",
		"       fix: ALTER TABLE `shop`.`log` ADD PRIMARY KEY (<columns that identify a row>);",
		"            ALTER TABLE `shop`.`people` ADD PRIMARY KEY (`email`);   -- the columns of its NOT NULL unique key uk_email",
		"[WARN] tables never captured: " + never,
		"       fix: ALTER TABLE <table> ENGINE=InnoDB; to capture one",
		"[INFO] views: views and temporary tables are never captured: changes made through a view are logged as changes of its base tables, and temporary tables never reach the binary log in ROW format; views in the captured schemas: shop.big_orders",
	}
	checkPrinted(t, out, lines...)
	if !strings.Contains(out, "Result: ready to stream, with ") {
		t.Error("result line missing")
	}

	// Without a filter every non-system schema is captured.
	rep, _ = checkRunOn(t, s.DB, CheckOptions{})
	checkWant(t, rep, "primary keys", CheckWarn, "3 tables without a primary key: other.nopk, shop.log, shop.people")
	checkWant(t, rep, "tables never captured", CheckWarn, "other.sink (MEMORY)")
	if it := rep.Item("captured tables"); it == nil || it.Status != CheckInfo {
		t.Errorf("captured tables: %+v", it)
	}

	// A MEMORY table named in --tables fails: bintap stream refuses it.
	rep, out = checkRunOn(t, s.DB, CheckOptions{Tables: []string{"shop.orders", "shop.cache"}})
	if !rep.Failed() {
		t.Error("a MEMORY table named in --tables does not fail the check")
	}
	checkWant(t, rep, "tables never captured", CheckFail, "--tables names MEMORY or BLACKHOLE tables, which bintap never captures",
		"remove them from --tables (or --tables-file), or ALTER TABLE <table> ENGINE=InnoDB;")
	checkPrinted(t, out, "[FAIL] tables never captured: --tables names MEMORY or BLACKHOLE tables, which bintap never captures (bintap stream stops at start, exit status 2): shop.cache (MEMORY): a MEMORY table lives in memory only: the server empties it at a restart without row events, so a copy would keep rows the table lost")

	// System-versioned tables are captured, and said to be.
	s.Exec("CREATE TABLE shop.prices (id INT PRIMARY KEY, p INT) WITH SYSTEM VERSIONING")
	rep, _ = checkRunOn(t, s.DB, CheckOptions{Schemas: []string{"shop"}})
	checkWant(t, rep, "system-versioned tables", CheckInfo, "captured by the stream and snapshots with their period columns")
	checkWant(t, rep, "system-versioned tables", CheckInfo, ": shop.prices")
}

func TestCheckParseGrant(t *testing.T) {
	cases := []struct {
		line      string
		ok        bool
		revoke    bool
		db, table string
		privs     string // sorted, joined by ","
	}{
		{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION", true, false, "*", "*", "ALL"},
		{"GRANT RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `cdc`@`%` IDENTIFIED BY PASSWORD '*D8'", true, false, "*", "*", "BINLOG MONITOR,RELOAD,REPLICATION SLAVE"},
		{"GRANT REPLICATION REPLICA, SLAVE MONITOR ON *.* TO `c`@`%`", true, false, "*", "*", "REPLICATION SLAVE,SLAVE MONITOR"},
		{"GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `cdc`@`%`", true, false, "*", "*", "REPLICATION CLIENT,REPLICATION SLAVE,SELECT"},
		{"GRANT SELECT ON `shop`.* TO `cdc`@`%`", true, false, "shop", "*", "SELECT"},
		{"GRANT SELECT ON `we``ird on`.`t to x` TO `cdc`@`%`", true, false, "we`ird on", "t to x", "SELECT"},
		{"GRANT SELECT (`a`), INSERT ON `shop`.`u` TO `c2`@`10.0.%`", true, false, "shop", "u", "INSERT"},
		{"GRANT SELECT ON TABLE `shop`.`t` TO 'x'@'%'", true, false, "shop", "t", "SELECT"},
		{"REVOKE SELECT ON `hr`.* FROM `cdc`@`%`", true, true, "hr", "*", "SELECT"},
		{"GRANT `cdc_role` TO `cdc`@`%`", false, false, "", "", ""},
		{"GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION", false, false, "", "", ""},
		{"GRANT EXECUTE ON PROCEDURE `shop`.`p` TO `cdc`@`%`", false, false, "", "", ""},
		{"SET DEFAULT ROLE `r1` FOR `cdc`@`%`", false, false, "", "", ""},
	}
	for _, tc := range cases {
		g, ok := checkParseGrant(tc.line)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.line, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		privs := checkKeys(g.privs)
		if g.revoke != tc.revoke || g.db != tc.db || g.table != tc.table || strings.Join(privs, ",") != tc.privs {
			t.Errorf("%s: got revoke=%v %q.%q %v", tc.line, g.revoke, g.db, g.table, privs)
		}
	}
}

func TestCheckGrantsCoverage(t *testing.T) {
	parse := func(lines ...string) *checkGrants {
		g := &checkGrants{}
		for _, l := range lines {
			if gr, ok := checkParseGrant(l); ok {
				g.list = append(g.list, gr)
			}
		}
		return g
	}
	cases := []struct {
		name   string
		grants *checkGrants
		db     string
		want   bool
	}{
		{"all on *.*", parse("GRANT ALL PRIVILEGES ON *.* TO `a`@`%`"), "shop", true},
		{"select on *.*", parse("GRANT SELECT ON *.* TO `a`@`%`"), "shop", true},
		{"all on db", parse("GRANT ALL PRIVILEGES ON `shop`.* TO `a`@`%`"), "shop", true},
		{"other db", parse("GRANT SELECT ON `crm`.* TO `a`@`%`"), "shop", false},
		{"wildcard db", parse("GRANT SELECT ON `sh%`.* TO `a`@`%`"), "shop", true},
		{"underscore wildcard", parse("GRANT SELECT ON `sh_p`.* TO `a`@`%`"), "shop", true},
		{"escaped underscore", parse("GRANT SELECT ON `sh\\_p`.* TO `a`@`%`"), "shop", false},
		{"escaped underscore matches itself", parse("GRANT SELECT ON `sh\\_p`.* TO `a`@`%`"), "sh_p", true},
		{"table only", parse("GRANT SELECT ON `shop`.`t` TO `a`@`%`"), "shop", false},
		{"insert only", parse("GRANT INSERT ON `shop`.* TO `a`@`%`"), "shop", false},
		{"partial revoke", parse("GRANT SELECT ON *.* TO `a`@`%`", "REVOKE SELECT ON `shop`.* FROM `a`@`%`"), "shop", false},
	}
	for _, tc := range cases {
		if got := tc.grants.selectSchema(tc.db); got != tc.want {
			t.Errorf("%s: selectSchema(%q) = %v, want %v", tc.name, tc.db, got, tc.want)
		}
	}
	if !parse("GRANT SELECT ON `shop`.`t` TO `a`@`%`").selectTable("shop", "t") {
		t.Error("table grant does not cover its table")
	}
	if got := checkAccount("o'neil@10.0.%"); got != `'o''neil'@'10.0.%'` {
		t.Errorf("checkAccount: %s", got)
	}
}

func TestCheckVersionAndFlavor(t *testing.T) {
	cases := []struct {
		version, comment, flavor, num string
	}{
		{"10.11.6-MariaDB-0+deb12u1-log", "Debian 12", "mariadb", "10.11.6"},
		{"11.4.2-MariaDB", "MariaDB Server", "mariadb", "11.4.2"},
		{"8.0.36", "MySQL Community Server - GPL", "mysql", "8.0.36"},
		{"8.4.0-commercial", "MySQL Enterprise Server - Commercial", "mysql", "8.4.0"},
		{"8.0.35-27", "Percona Server (GPL), Release 27", "mysql", "8.0.35"},
	}
	for _, tc := range cases {
		if f := checkFlavor(tc.version, tc.comment); f != tc.flavor {
			t.Errorf("%s: flavor %s, want %s", tc.version, f, tc.flavor)
		}
		if _, num := checkParseVersion(tc.version); num != tc.num {
			t.Errorf("%s: version %s, want %s", tc.version, num, tc.num)
		}
	}
}

// TestCheckSettings judges variable sets of servers the tests cannot start
// (MySQL releases, older MariaDB): the values are what those servers report
// in SHOW GLOBAL VARIABLES.
func TestCheckSettings(t *testing.T) {
	mysql80 := map[string]string{
		"version": "8.0.36", "version_comment": "MySQL Community Server - GPL", "log_bin": "ON", "server_id": "1",
		"binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "MINIMAL",
		"binlog_expire_logs_seconds": "2592000", "expire_logs_days": "0", "binlog_expire_auto_purge": "ON",
		"gtid_mode": "OFF", "enforce_gtid_consistency": "OFF", "binlog_checksum": "CRC32",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	mysql57 := with(mysql80, "version", "5.7.44-log", "binlog_row_metadata", "-", "binlog_expire_logs_seconds", "-",
		"binlog_expire_auto_purge", "-", "expire_logs_days", "3")
	mariadb104 := map[string]string{
		"version": "10.4.32-MariaDB", "version_comment": "mariadb.org binary distribution", "log_bin": "ON", "server_id": "7",
		"binlog_format": "MIXED", "binlog_row_image": "FULL", "expire_logs_days": "10", "gtid_binlog_pos": "0-7-100,1-7-5",
		"gtid_strict_mode": "OFF", "binlog_checksum": "NONE",
	}
	type want struct {
		item   string
		status CheckStatus
		detail string
		fix    string
	}
	cases := []struct {
		name   string
		vars   map[string]string
		flavor string
		failed bool
		want   []want
	}{
		{"mysql 8.0 defaults", mysql80, "mysql", false, []want{
			{"server", CheckOK, "MySQL 8.0.36", ""},
			{"binlog retention", CheckOK, "binlog_expire_logs_seconds=2592000: binary logs are kept 30 days", ""},
			{"binlog_row_metadata", CheckWarn, "binlog_row_metadata is MINIMAL", "SET GLOBAL binlog_row_metadata='FULL';"},
			{"gtid_mode", CheckWarn, "gtid_mode is OFF: bintap falls back to file:position", "SET GLOBAL gtid_mode=ON;\nand in my.cnf under [mysqld], to keep it after a restart:\n  gtid_mode=ON\n  enforce_gtid_consistency=ON"},
			{"enforce_gtid_consistency", CheckWarn, "enforce_gtid_consistency is OFF", "SET GLOBAL enforce_gtid_consistency=ON;"},
		}},
		{"mysql 8.0 with gtid", with(mysql80, "gtid_mode", "ON", "enforce_gtid_consistency", "ON"), "mysql", false, []want{
			{"gtid_mode", CheckOK, "gtid_mode is ON", ""},
			{"enforce_gtid_consistency", CheckOK, "enforce_gtid_consistency is ON", ""},
		}},
		{"mysql 8.0 days when seconds are 0", with(mysql80, "binlog_expire_logs_seconds", "0", "expire_logs_days", "2"), "mysql", false, []want{
			{"binlog retention", CheckWarn, "expire_logs_days=2: binary logs are purged after 2 days", "SET GLOBAL binlog_expire_logs_seconds=604800;"},
		}},
		{"mysql 8.4 never purged", with(mysql80, "version", "8.4.3", "expire_logs_days", "-", "binlog_expire_logs_seconds", "0"), "mysql", false, []want{
			{"binlog retention", CheckWarn, "binlog_expire_logs_seconds=0: binary logs are never purged", "  binlog_expire_logs_seconds=604800"},
		}},
		{"mysql auto purge off", with(mysql80, "binlog_expire_auto_purge", "OFF"), "mysql", false, []want{
			{"binlog retention", CheckWarn, "binlog_expire_auto_purge is OFF", "SET GLOBAL binlog_expire_auto_purge=ON;"},
		}},
		{"mysql 5.7", mysql57, "mysql", false, []want{
			{"binlog_row_metadata", CheckInfo, "this server has no binlog_row_metadata", ""},
			{"binlog retention", CheckWarn, "expire_logs_days=3: binary logs are purged after 3 days", "SET GLOBAL expire_logs_days=7;\nand in my.cnf under [mysqld], to keep it after a restart:\n  expire_logs_days=7"},
		}},
		{"mysql server id 0", with(mysql80, "server_id", "0", "log_bin", "OFF"), "mysql", true, []want{
			{"server_id", CheckFail, "server_id is 0", "SET GLOBAL server_id=1;"},
			{"log_bin", CheckFail, "the binary log is off (log_bin=OFF)", "  log_bin=mysql-bin\n  server_id=1"},
		}},
		{"mariadb 10.4", mariadb104, "mariadb", true, []want{
			{"binlog_format", CheckFail, "binlog_format is MIXED", "SET GLOBAL binlog_format='ROW';"},
			{"binlog retention", CheckOK, "expire_logs_days=10: binary logs are kept 10 days", ""},
			{"binlog_row_metadata", CheckInfo, "no binlog_row_metadata", ""},
			{"gtid", CheckInfo, "current binlog GTID position 0-7-100,1-7-5", ""},
			{"gtid_strict_mode", CheckInfo, "gtid_strict_mode is OFF", "SET GLOBAL gtid_strict_mode=ON;"},
			{"binlog_checksum", CheckInfo, "binlog_checksum is NONE", ""},
		}},
		{"old mariadb", with(mariadb104, "version", "10.1.48-MariaDB"), "mariadb", true, []want{
			{"server", CheckWarn, "older than the ones bintap is tested with", "upgrade"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &checkRun{rep: &Report{}, vars: tc.vars}
			c.checkSettings()
			if c.rep.Flavor != tc.flavor {
				t.Errorf("flavor %q, want %q", c.rep.Flavor, tc.flavor)
			}
			if c.rep.Failed() != tc.failed {
				t.Errorf("Failed() = %v, want %v", c.rep.Failed(), tc.failed)
			}
			for _, w := range tc.want {
				checkWant(t, c.rep, w.item, w.status, w.detail, w.fix)
			}
		})
	}
}
