package source

// The source preflight behind `bintap check --source DSN`: it asks the server
// whether bintap can stream from it and, for every problem, says in plain
// language what is wrong and prints the exact SQL or my.cnf line that fixes it.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CheckOptions select what Check looks at.
type CheckOptions struct {
	// Schemas are the captured schemas. A table is captured when its schema
	// is listed here or the table is listed in Tables; with both empty, every
	// non-system schema is captured. The system schemas mysql,
	// information_schema, performance_schema and sys are never captured.
	Schemas []string
	// Tables are captured tables named "db.t".
	Tables []string
	// User is the user name as the operator gave it, for messages only; the
	// account checked is the one the server reports as CURRENT_USER().
	User string
	// HeartbeatTable is the --heartbeat-table ("db.t"), or "".
	HeartbeatTable string
}

// CheckStatus is the verdict of one check.
type CheckStatus string

// The verdicts, from good to bad. Only CheckFail stops streaming.
const (
	CheckOK   CheckStatus = "OK"
	CheckInfo CheckStatus = "INFO"
	CheckWarn CheckStatus = "WARN"
	CheckFail CheckStatus = "FAIL"
)

// CheckItem is one line of the report.
type CheckItem struct {
	Name   string      `json:"name"`
	Status CheckStatus `json:"status"`
	Detail string      `json:"detail"`
	// Fix is what to run or configure, one instruction per line; empty when
	// nothing needs doing.
	Fix string `json:"fix,omitempty"`
}

// Report is the outcome of Check: its items in a fixed order.
type Report struct {
	Flavor  string      `json:"flavor"`  // "mariadb" or "mysql"
	Version string      `json:"version"` // numeric server version, such as "10.11.6"
	Items   []CheckItem `json:"items"`
}

// Failed reports whether any check failed: streaming cannot work until the
// failures are fixed.
func (r *Report) Failed() bool {
	for _, it := range r.Items {
		if it.Status == CheckFail {
			return true
		}
	}
	return false
}

// Count returns how many items have the status.
func (r *Report) Count(s CheckStatus) int {
	n := 0
	for _, it := range r.Items {
		if it.Status == s {
			n++
		}
	}
	return n
}

// Item returns the first item with the name, or nil.
func (r *Report) Item(name string) *CheckItem {
	for i := range r.Items {
		if r.Items[i].Name == name {
			return &r.Items[i]
		}
	}
	return nil
}

// Print writes the report in plain language: one line per check with its
// marker, and the fix indented beneath every item that is not OK.
func (r *Report) Print(w io.Writer) error {
	var b strings.Builder
	server := "server"
	switch r.Flavor {
	case "mariadb":
		server = "MariaDB"
	case "mysql":
		server = "MySQL"
	}
	if r.Version != "" {
		server += " " + r.Version
	}
	fmt.Fprintf(&b, "bintap source check (%s)\n", server)
	for _, it := range r.Items {
		fmt.Fprintf(&b, "%-6s %s: %s\n", "["+string(it.Status)+"]", it.Name, it.Detail)
		if it.Status == CheckOK || it.Fix == "" {
			continue
		}
		for i, line := range strings.Split(strings.TrimRight(it.Fix, "\n"), "\n") {
			if i == 0 {
				fmt.Fprintf(&b, "       fix: %s\n", line)
			} else {
				fmt.Fprintf(&b, "            %s\n", line)
			}
		}
	}
	fails, warns := r.Count(CheckFail), r.Count(CheckWarn)
	switch {
	case fails > 0:
		fmt.Fprintf(&b, "Result: %s, %s. bintap cannot stream from this server until the failures are fixed.\n",
			checkPlural(fails, "failure"), checkPlural(warns, "warning"))
	case warns > 0:
		fmt.Fprintf(&b, "Result: ready to stream, with %s worth a look.\n", checkPlural(warns, "warning"))
	default:
		fmt.Fprintf(&b, "Result: ready to stream.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func checkPlural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// checkSystemSchemas are never captured.
var checkSystemSchemas = []string{"mysql", "information_schema", "performance_schema", "sys"}

func checkIsSystemSchema(db string) bool {
	for _, s := range checkSystemSchemas {
		if strings.EqualFold(db, s) {
			return true
		}
	}
	return false
}

// checkVariables are the server variables the checks read, in one query.
var checkVariables = []string{
	"version", "version_comment", "log_bin", "server_id",
	"binlog_format", "binlog_row_image", "binlog_row_metadata",
	"expire_logs_days", "binlog_expire_logs_seconds", "binlog_expire_auto_purge",
	"gtid_binlog_pos", "gtid_strict_mode", "gtid_mode", "enforce_gtid_consistency",
	"binlog_checksum", "read_only",
}

// checkRetentionTarget is the binlog retention bintap recommends: 7 days.
const checkRetentionTarget = 7 * 24 * 3600

// checkRun holds the state of one Check.
type checkRun struct {
	db      *sql.DB
	opt     CheckOptions
	rep     *Report
	vars    map[string]string
	mariadb bool
	ver     [3]int
	account string // 'user'@'host', for GRANT statements
	capture checkCapture
}

// Check runs the source preflight on db and returns the report. The error is
// only for a server that cannot be asked at all (no connection); everything
// the server answers, good or bad, is an item of the report.
func Check(ctx context.Context, db *sql.DB, opt CheckOptions) (*Report, error) {
	c := &checkRun{db: db, opt: opt, rep: &Report{}, vars: map[string]string{}}
	if err := c.loadVariables(ctx); err != nil {
		return nil, err
	}
	c.checkSettings()
	c.checkGrants(ctx)
	c.checkTables(ctx)
	c.checkHeartbeat(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.rep, nil
}

// checkSettings judges the server variables already loaded.
func (c *checkRun) checkSettings() {
	c.checkServer()
	c.checkLogBin()
	c.checkServerID()
	c.checkFormat()
	c.checkRowImage()
	c.checkRowMetadata()
	c.checkRetention()
	c.checkGTID()
	c.checkChecksum()
}

// checkHeartbeat explains heartbeat layer 2: a table bintap (or, on a
// read-only replica, an event on the primary) updates so the binlog moves.
func (c *checkRun) checkHeartbeat(ctx context.Context) {
	const name = "heartbeat table"
	user := c.account
	if user == "" {
		user = "'" + c.opt.User + "'@'%'"
	}
	readOnly := strings.EqualFold(c.vars["read_only"], "ON") || c.vars["read_only"] == "1"
	table := c.opt.HeartbeatTable
	if table == "" {
		c.add(name, CheckInfo, "not configured: on an idle server the binlog does not move, so positions go stale; to keep them fresh create a heartbeat table and pass --heartbeat-table (read-write source) or include the table in the capture (read-only replica, updated by an event on the primary)",
			HeartbeatSetup("bintap.bintap_heartbeat", user))
		return
	}
	if err := CheckHeartbeatTable(ctx, c.db, table, user); err != nil {
		c.add(name, CheckWarn, fmt.Sprintf("%s does not exist or lacks the columns id and last_update", table), HeartbeatSetup(table, user))
		return
	}
	if readOnly {
		c.add(name, CheckWarn, fmt.Sprintf("%s exists but the server is read_only, so bintap cannot update it: create the scheduled event on the primary and capture the table instead of passing --heartbeat-table", table), HeartbeatSetup(table, user))
		return
	}
	c.add(name, CheckOK, fmt.Sprintf("%s exists; bintap updates it every --heartbeat-interval", table), "")
}

func (c *checkRun) add(name string, st CheckStatus, detail, fix string) {
	c.rep.Items = append(c.rep.Items, CheckItem{Name: name, Status: st, Detail: detail, Fix: fix})
}

func (c *checkRun) loadVariables(ctx context.Context) error {
	q := "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('" + strings.Join(checkVariables, "','") + "')"
	rows, err := c.db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("read server variables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var val sql.NullString
		if err := rows.Scan(&name, &val); err != nil {
			return fmt.Errorf("read server variables: %w", err)
		}
		c.vars[strings.ToLower(name)] = val.String
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read server variables: %w", err)
	}
	if _, ok := c.vars["version"]; !ok {
		// Very old servers or proxies may hide it from SHOW VARIABLES.
		var v, comment sql.NullString
		if err := c.db.QueryRowContext(ctx, "SELECT @@version, @@version_comment").Scan(&v, &comment); err != nil {
			return fmt.Errorf("read server version: %w", err)
		}
		c.vars["version"], c.vars["version_comment"] = v.String, comment.String
	}
	return nil
}

// checkFlavor tells MariaDB from MySQL (and its forks such as Percona Server).
func checkFlavor(version, comment string) string {
	if strings.Contains(strings.ToLower(version), "mariadb") || strings.Contains(strings.ToLower(comment), "mariadb") {
		return "mariadb"
	}
	return "mysql"
}

// checkParseVersion reads the leading "X.Y.Z" of a server version.
func checkParseVersion(s string) (v [3]int, text string) {
	end := 0
	for end < len(s) && (s[end] == '.' || s[end] >= '0' && s[end] <= '9') {
		end++
	}
	text = strings.TrimRight(s[:end], ".")
	for i, p := range strings.SplitN(text, ".", 3) {
		v[i], _ = strconv.Atoi(p)
	}
	return v, text
}

func (c *checkRun) atLeast(major, minor int) bool {
	return c.ver[0] > major || c.ver[0] == major && c.ver[1] >= minor
}

func (c *checkRun) checkServer() {
	version, comment := c.vars["version"], c.vars["version_comment"]
	c.rep.Flavor = checkFlavor(version, comment)
	c.mariadb = c.rep.Flavor == "mariadb"
	c.ver, c.rep.Version = checkParseVersion(version)
	name := "MySQL"
	if c.mariadb {
		name = "MariaDB"
	}
	detail := fmt.Sprintf("%s %s (version %q, %q)", name, c.rep.Version, version, comment)
	switch {
	case c.mariadb && !c.atLeast(10, 3), !c.mariadb && !c.atLeast(5, 7):
		c.add("server", CheckWarn, detail+"; this release is older than the ones bintap is tested with (MariaDB 10.3+, MySQL 5.7+)",
			"upgrade the server to a maintained release")
	default:
		c.add("server", CheckOK, detail, "")
	}
}

func checkOn(v string) bool {
	switch strings.ToUpper(v) {
	case "ON", "1", "YES", "TRUE":
		return true
	}
	return false
}

func (c *checkRun) checkLogBin() {
	v := c.vars["log_bin"]
	if checkOn(v) {
		c.add("log_bin", CheckOK, "the binary log is on", "")
		return
	}
	c.add("log_bin", CheckFail, fmt.Sprintf("the binary log is off (log_bin=%s); bintap reads every change from it", v),
		"add to my.cnf under [mysqld], then restart the server:\n  log_bin=mysql-bin\n  server_id=1")
}

func (c *checkRun) checkServerID() {
	v, ok := c.vars["server_id"]
	if !ok {
		c.add("server_id", CheckInfo, "the server did not report server_id", "")
		return
	}
	if v == "0" || v == "" {
		c.add("server_id", CheckFail, "server_id is 0; a server with the binary log on needs a non-zero id to serve replication clients",
			"SET GLOBAL server_id=1;\nand in my.cnf under [mysqld], to keep it after a restart:\n  server_id=1")
		return
	}
	c.add("server_id", CheckOK, "server_id is "+v+" (bintap connects with a different id of its own)", "")
}

// checkGlobalFix is the SQL and my.cnf fix for a dynamic global variable.
func checkGlobalFix(name, sqlValue, cnfValue, note string) string {
	s := fmt.Sprintf("SET GLOBAL %s=%s;", name, sqlValue)
	if note != "" {
		s += "   -- " + note
	}
	return s + fmt.Sprintf("\nand in my.cnf under [mysqld], to keep it after a restart:\n  %s=%s", name, cnfValue)
}

func (c *checkRun) checkFormat() {
	v := strings.ToUpper(c.vars["binlog_format"])
	if v == "ROW" {
		c.add("binlog_format", CheckOK, "binlog_format is ROW", "")
		return
	}
	c.add("binlog_format", CheckFail,
		fmt.Sprintf("binlog_format is %s; bintap needs ROW, the only format that records the changed rows themselves", checkOr(v, "not set")),
		checkGlobalFix("binlog_format", "'ROW'", "ROW", "applies to new connections: reconnect applications that write"))
}

func (c *checkRun) checkRowImage() {
	v, ok := c.vars["binlog_row_image"]
	if !ok {
		c.add("binlog_row_image", CheckInfo, "this server has no binlog_row_image: it always logs full row images", "")
		return
	}
	v = strings.ToUpper(v)
	if v == "FULL" {
		c.add("binlog_row_image", CheckOK, "binlog_row_image is FULL", "")
		return
	}
	c.add("binlog_row_image", CheckFail,
		fmt.Sprintf("binlog_row_image is %s; bintap needs FULL so that every change carries all columns before and after", checkOr(v, "not set")),
		checkGlobalFix("binlog_row_image", "'FULL'", "FULL", "applies to new connections: reconnect applications that write"))
}

func (c *checkRun) checkRowMetadata() {
	v, ok := c.vars["binlog_row_metadata"]
	if !ok {
		c.add("binlog_row_metadata", CheckInfo,
			"this server has no binlog_row_metadata (MariaDB 10.5+, MySQL 8.0.1+): bintap takes column names and types from its schema history, rebuilt from the DDL in the binary log", "")
		return
	}
	v = strings.ToUpper(v)
	if v == "FULL" {
		c.add("binlog_row_metadata", CheckOK, "binlog_row_metadata is FULL: every row event names its columns and types", "")
		return
	}
	c.add("binlog_row_metadata", CheckWarn,
		fmt.Sprintf("binlog_row_metadata is %s (FULL recommended); without it row events carry no column names, ENUM/SET members or signedness, and bintap relies on its schema history, rebuilt from the DDL in the binary log", checkOr(v, "not set")),
		checkGlobalFix("binlog_row_metadata", "'FULL'", "FULL", ""))
}

func checkOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// checkDuration writes seconds in days or hours for people.
func checkDuration(sec float64) string {
	switch {
	case sec >= 86400:
		d := sec / 86400
		if d == float64(int64(d)) {
			return checkPlural(int(d), "day")
		}
		return strconv.FormatFloat(d, 'f', 1, 64) + " days"
	case sec >= 3600:
		return strconv.FormatFloat(sec/3600, 'f', 1, 64) + " hours"
	default:
		return strconv.FormatFloat(sec, 'f', 0, 64) + " seconds"
	}
}

func (c *checkRun) checkRetention() {
	secs, hasSecs := c.vars["binlog_expire_logs_seconds"]
	days, hasDays := c.vars["expire_logs_days"]
	var retention float64
	var source string
	s, _ := strconv.ParseFloat(secs, 64)
	d, _ := strconv.ParseFloat(days, 64)
	switch {
	case hasSecs && (c.mariadb || s > 0 || !hasDays):
		// MariaDB 10.6+ keeps both in step; MySQL 8.0 prefers seconds when
		// set and falls back to days; MySQL 8.4 has seconds only.
		retention, source = s, "binlog_expire_logs_seconds="+secs
	case hasDays:
		retention, source = d*86400, "expire_logs_days="+days
	default:
		c.add("binlog retention", CheckInfo, "the server reports no binlog expiry setting", "")
		return
	}
	fix := checkGlobalFix("binlog_expire_logs_seconds", "604800", "604800", "7 days")
	if !hasSecs {
		fix = checkGlobalFix("expire_logs_days", "7", "7", "")
	}
	if ap, ok := c.vars["binlog_expire_auto_purge"]; ok && !checkOn(ap) {
		c.add("binlog retention", CheckWarn,
			"binlog_expire_auto_purge is OFF: binary logs are never purged and the disk fills up unless they are purged by hand",
			checkGlobalFix("binlog_expire_auto_purge", "ON", "ON", "")+"\n"+fix)
		return
	}
	switch {
	case retention == 0:
		c.add("binlog retention", CheckWarn,
			fmt.Sprintf("%s: binary logs are never purged, so they grow until the disk is full; set a retention longer than bintap may ever be stopped", source), fix)
	case retention < checkRetentionTarget:
		c.add("binlog retention", CheckWarn,
			fmt.Sprintf("%s: binary logs are purged after %s; if bintap is stopped longer than that it cannot resume and needs a new snapshot (7 days or more recommended)", source, checkDuration(retention)), fix)
	default:
		c.add("binlog retention", CheckOK, fmt.Sprintf("%s: binary logs are kept %s", source, checkDuration(retention)), "")
	}
}

func (c *checkRun) checkGTID() {
	if c.mariadb {
		pos := c.vars["gtid_binlog_pos"]
		if pos == "" {
			c.add("gtid", CheckInfo, "MariaDB GTIDs are always on; no transaction has been logged yet, so the GTID position is empty", "")
		} else {
			c.add("gtid", CheckInfo, "MariaDB GTIDs are always on; current binlog GTID position "+pos+" (bintap resumes by GTID)", "")
		}
		if v, ok := c.vars["gtid_strict_mode"]; ok {
			if checkOn(v) {
				c.add("gtid_strict_mode", CheckOK, "gtid_strict_mode is ON: sequence numbers only grow within a domain", "")
			} else {
				c.add("gtid_strict_mode", CheckInfo,
					"gtid_strict_mode is OFF; bintap works, but with strict mode the server refuses out-of-order GTIDs that make resuming after a failover ambiguous",
					checkGlobalFix("gtid_strict_mode", "ON", "ON", "optional"))
			}
		}
		return
	}
	mode, ok := c.vars["gtid_mode"]
	if !ok {
		c.add("gtid_mode", CheckWarn, "this server has no GTIDs: bintap follows file:position, so after a failover to another server it cannot find its place on its own",
			"upgrade to MySQL 5.7 or later and turn gtid_mode ON")
		return
	}
	mode = strings.ToUpper(mode)
	if mode == "ON" {
		c.add("gtid_mode", CheckOK, "gtid_mode is ON: bintap resumes by GTID", "")
	} else {
		c.add("gtid_mode", CheckWarn,
			fmt.Sprintf("gtid_mode is %s: bintap falls back to file:position, so after a failover to another server it cannot find its place on its own", mode),
			"SET GLOBAL enforce_gtid_consistency=ON;\n"+
				"SET GLOBAL gtid_mode=OFF_PERMISSIVE;\n"+
				"SET GLOBAL gtid_mode=ON_PERMISSIVE;\n"+
				"-- wait until SHOW STATUS LIKE 'Ongoing_anonymous_transaction_count' is 0, then:\n"+
				"SET GLOBAL gtid_mode=ON;\n"+
				"and in my.cnf under [mysqld], to keep it after a restart:\n"+
				"  gtid_mode=ON\n"+
				"  enforce_gtid_consistency=ON")
	}
	if v, ok := c.vars["enforce_gtid_consistency"]; ok {
		v = strings.ToUpper(v)
		if v == "ON" {
			c.add("enforce_gtid_consistency", CheckOK, "enforce_gtid_consistency is ON", "")
		} else {
			c.add("enforce_gtid_consistency", CheckWarn,
				fmt.Sprintf("enforce_gtid_consistency is %s: gtid_mode cannot be turned ON without it", v),
				checkGlobalFix("enforce_gtid_consistency", "ON", "ON", ""))
		}
	}
}

func (c *checkRun) checkChecksum() {
	v, ok := c.vars["binlog_checksum"]
	switch {
	case !ok:
		c.add("binlog_checksum", CheckInfo, "the server reports no binlog_checksum: events carry no checksum", "")
	case strings.EqualFold(v, "NONE"):
		c.add("binlog_checksum", CheckInfo, "binlog_checksum is NONE: events carry no checksum, so bintap cannot detect a corrupted event", "")
	default:
		c.add("binlog_checksum", CheckInfo, "binlog_checksum is "+v+": bintap verifies every event", "")
	}
}
