package source

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// checkGrant is one parsed GRANT (or, with MySQL partial revokes, REVOKE)
// line of SHOW GRANTS.
type checkGrant struct {
	revoke bool
	// privs holds the privileges granted on the whole object, upper case,
	// with "ALL PRIVILEGES" as "ALL". Column privileges are left out: they
	// never cover a whole table.
	privs map[string]bool
	// db and table name the object, unquoted; "*" is the wildcard. A
	// database-level db is a LIKE pattern, as the server treats it.
	db, table string
}

// checkScan walks s and calls f for each byte outside quotes and
// parentheses with its index; f returns false to stop.
func checkScan(s string, f func(i int) bool) {
	var quote byte
	depth := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				if i+1 < len(s) && s[i+1] == quote {
					i++ // doubled quote inside a quoted name
				} else {
					quote = 0
				}
			} else if ch == '\\' && quote == '\'' {
				i++
			}
			continue
		case ch == '`' || ch == '\'' || ch == '"':
			quote = ch
			continue
		case ch == '(':
			depth++
			continue
		case ch == ')':
			depth--
			continue
		}
		if depth == 0 && !f(i) {
			return
		}
	}
}

// checkKeyword finds the keyword, surrounded by spaces, outside quotes and
// parentheses, or returns -1.
func checkKeyword(s, kw string) int {
	pat := " " + kw + " "
	at := -1
	checkScan(s, func(i int) bool {
		if s[i] == ' ' && len(s)-i >= len(pat) && strings.EqualFold(s[i:i+len(pat)], pat) {
			at = i
			return false
		}
		return true
	})
	return at
}

// checkSplitTop splits s at sep outside quotes and parentheses.
func checkSplitTop(s string, sep byte) []string {
	var parts []string
	start := 0
	checkScan(s, func(i int) bool {
		if s[i] == sep {
			parts = append(parts, s[start:i])
			start = i + 1
		}
		return true
	})
	return append(parts, s[start:])
}

// checkUnquote removes identifier quotes; a doubled quote inside stands for one.
func checkUnquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '`' || s[0] == '"') && s[len(s)-1] == s[0] {
		q := string(s[0])
		return strings.ReplaceAll(s[1:len(s)-1], q+q, q)
	}
	return s
}

// checkParseGrant parses one line of SHOW GRANTS. It reports false for lines
// that grant no privileges on tables: role grants, PROXY, routines, SET
// DEFAULT ROLE.
func checkParseGrant(line string) (checkGrant, bool) {
	line = strings.TrimSpace(line)
	var g checkGrant
	upper := strings.ToUpper(line)
	switch {
	case strings.HasPrefix(upper, "GRANT "):
		line = line[len("GRANT"):]
	case strings.HasPrefix(upper, "REVOKE "):
		g.revoke = true
		line = line[len("REVOKE"):]
	default:
		return g, false
	}
	on := checkKeyword(line, "ON")
	if on < 0 {
		return g, false // GRANT `role` TO ...
	}
	privs, rest := line[:on], line[on+len(" ON "):]
	end := checkKeyword(rest, "TO")
	if g.revoke {
		end = checkKeyword(rest, "FROM")
	}
	if end < 0 {
		return g, false
	}
	object := strings.TrimSpace(rest[:end])
	uobj := strings.ToUpper(object)
	switch {
	case strings.HasPrefix(uobj, "TABLE "):
		object = strings.TrimSpace(object[len("TABLE "):])
	case strings.HasPrefix(uobj, "FUNCTION "), strings.HasPrefix(uobj, "PROCEDURE "), strings.HasPrefix(uobj, "PACKAGE "):
		return g, false
	}
	parts := checkSplitTop(object, '.')
	if len(parts) != 2 {
		return g, false // PROXY ON ''@'%', or an object without a schema
	}
	g.db, g.table = checkUnquote(parts[0]), checkUnquote(parts[1])
	g.privs = map[string]bool{}
	for _, p := range checkSplitTop(privs, ',') {
		p = strings.ToUpper(strings.Join(strings.Fields(p), " "))
		if strings.Contains(p, "(") {
			continue // column privilege
		}
		switch p {
		case "ALL PRIVILEGES", "ALL":
			p = "ALL"
		case "REPLICATION REPLICA":
			p = "REPLICATION SLAVE"
		case "PROXY":
			return g, false
		}
		g.privs[p] = true
	}
	return g, true
}

// checkLike matches s against a LIKE pattern with % and _ and \ escapes, as
// the server matches database names of database-level grants.
func checkLike(s, pat string) bool {
	if pat == "" {
		return s == ""
	}
	switch pat[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if checkLike(s[i:], pat[1:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && checkLike(s[1:], pat[1:])
	case '\\':
		if len(pat) > 1 {
			pat = pat[1:]
		}
	}
	return s != "" && s[0] == pat[0] && checkLike(s[1:], pat[1:])
}

// checkGrants are the privileges of the connected account.
type checkGrants struct {
	list []checkGrant
}

func (g *checkGrants) has(grant checkGrant, privs []string) bool {
	if grant.privs["ALL"] {
		return true
	}
	for _, p := range privs {
		if grant.privs[p] {
			return true
		}
	}
	return false
}

// global reports whether any of privs is granted on *.*.
func (g *checkGrants) global(privs ...string) bool {
	for _, gr := range g.list {
		if !gr.revoke && gr.db == "*" && gr.table == "*" && g.has(gr, privs) {
			return true
		}
	}
	return false
}

// revoked reports a MySQL partial revoke of SELECT on the schema.
func (g *checkGrants) revoked(db string) bool {
	for _, gr := range g.list {
		if gr.revoke && gr.db == db && gr.table == "*" && g.has(gr, []string{"SELECT"}) {
			return true
		}
	}
	return false
}

// selectSchema reports whether the account may read every table of db.
func (g *checkGrants) selectSchema(db string) bool {
	if g.revoked(db) {
		return false
	}
	if g.global("SELECT") {
		return true
	}
	for _, gr := range g.list {
		if !gr.revoke && gr.table == "*" && gr.db != "*" && checkLike(db, gr.db) && g.has(gr, []string{"SELECT"}) {
			return true
		}
	}
	return false
}

// selectTable reports whether the account may read the table.
func (g *checkGrants) selectTable(db, table string) bool {
	if g.selectSchema(db) {
		return true
	}
	for _, gr := range g.list {
		if !gr.revoke && gr.db == db && gr.table == table && g.has(gr, []string{"SELECT"}) {
			return true
		}
	}
	return false
}

// checkQuoteString quotes a string literal.
func checkQuoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// checkQuoteIdent quotes an identifier with backticks.
func checkQuoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

// checkAccount turns CURRENT_USER() ("user@host") into 'user'@'host'.
func checkAccount(current string) string {
	at := strings.LastIndexByte(current, '@')
	if at < 0 {
		return checkQuoteString(current) + "@'%'"
	}
	return checkQuoteString(current[:at]) + "@" + checkQuoteString(current[at+1:])
}

// readGrants reads the grants of the connected account, with those of its
// active roles, and reports whether roles were granted to it.
func (c *checkRun) readGrants(ctx context.Context) (*checkGrants, bool, error) {
	// On MariaDB, SHOW GRANTS without FOR lists the active role's privileges
	// too; MySQL lists them only when asked with USING.
	lines, err := c.queryLines(ctx, "SHOW GRANTS")
	if err != nil {
		return nil, false, err
	}
	roles := false
	for _, line := range lines {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(line)), "GRANT ") && checkKeyword(line, "ON") < 0 {
			roles = true
		}
	}
	if roles && !c.mariadb {
		var active sql.NullString
		if err := c.db.QueryRowContext(ctx, "SELECT CURRENT_ROLE()").Scan(&active); err == nil &&
			active.Valid && active.String != "" && !strings.EqualFold(active.String, "NONE") {
			if more, err := c.queryLines(ctx, "SHOW GRANTS FOR CURRENT_USER() USING "+active.String); err == nil {
				lines = more
			}
		}
	}
	g := &checkGrants{}
	for _, line := range lines {
		if gr, ok := checkParseGrant(line); ok {
			g.list = append(g.list, gr)
		}
	}
	return g, roles, nil
}

// queryLines runs a query whose rows are one string each.
func (c *checkRun) queryLines(ctx context.Context, q string) ([]string, error) {
	rows, err := c.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		lines = append(lines, line)
	}
	return lines, rows.Err()
}

func (c *checkRun) checkGrants(ctx context.Context) {
	var current string
	if err := c.db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&current); err != nil || current == "" {
		current = c.opt.User + "@%"
	}
	c.account = checkAccount(current)
	who := "connected as " + c.account
	if c.opt.User != "" && !strings.HasPrefix(current, c.opt.User+"@") {
		who += fmt.Sprintf(" (user %q was given)", c.opt.User)
	}
	g, roles, err := c.readGrants(ctx)
	if err != nil {
		c.add("grants", CheckWarn, who+"; could not read its grants: "+err.Error(),
			"check the privileges by hand with: SHOW GRANTS;")
		c.checkSchemaList(ctx, nil)
		return
	}
	if roles {
		who += "; privileges of roles count only when the role is active in the session (a default role)"
	}
	c.add("account", CheckInfo, who, "")
	grant := func(priv, on string) string {
		return fmt.Sprintf("GRANT %s ON %s TO %s;", priv, on, c.account)
	}

	if g.global("REPLICATION SLAVE") {
		c.add("REPLICATION SLAVE", CheckOK, "granted: the account may read the binary log", "")
	} else {
		c.add("REPLICATION SLAVE", CheckFail,
			c.account+" lacks REPLICATION SLAVE, which a client needs to read the binary log as a replica",
			grant("REPLICATION SLAVE", "*.*"))
	}

	clientPriv, detail := "REPLICATION CLIENT", "SHOW MASTER STATUS and SHOW BINARY LOGS"
	accepted := []string{"REPLICATION CLIENT", "BINLOG MONITOR"}
	if c.mariadb && c.atLeast(10, 5) {
		clientPriv = "BINLOG MONITOR"
	} else if !c.mariadb || !c.atLeast(10, 5) {
		accepted = append(accepted, "SUPER")
	}
	if g.global(accepted...) {
		c.add(clientPriv, CheckOK, "granted: the account may read the binlog position ("+detail+")", "")
	} else {
		c.add(clientPriv, CheckFail,
			c.account+" lacks "+clientPriv+", which bintap needs to read the current binlog position and list binary logs ("+detail+")",
			grant(clientPriv, "*.*"))
	}

	c.checkSchemaList(ctx, g)

	if g.global("RELOAD") {
		c.add("RELOAD", CheckOK, "granted: a consistent initial snapshot may briefly lock tables (FLUSH TABLES WITH READ LOCK)", "")
	} else {
		c.add("RELOAD", CheckInfo,
			"not granted (optional): streaming works without it; only a snapshot that briefly locks all tables (FLUSH TABLES WITH READ LOCK) needs it",
			grant("RELOAD", "*.*"))
	}
}

// checkSchemaList settles which schemas and tables are captured and, with
// grants known, checks SELECT on each of them.
func (c *checkRun) checkSchemaList(ctx context.Context, g *checkGrants) {
	c.capture = checkCapture{tables: map[string]bool{}, wantSchema: map[string]bool{}}
	var skipped []string
	for _, s := range c.opt.Schemas {
		if checkIsSystemSchema(s) {
			skipped = append(skipped, s)
			continue
		}
		c.capture.wantSchema[s] = true
	}
	tableSchemas := map[string][]string{}
	for _, t := range c.opt.Tables {
		db, name, ok := strings.Cut(t, ".")
		if !ok || db == "" || name == "" {
			c.add("table filter", CheckWarn, fmt.Sprintf("%q is not a table name of the form db.table; it is ignored", t), "")
			continue
		}
		if checkIsSystemSchema(db) {
			skipped = append(skipped, t)
			continue
		}
		c.capture.tables[db+"."+name] = true
		if !c.capture.wantSchema[db] {
			tableSchemas[db] = append(tableSchemas[db], name)
		}
	}
	if len(skipped) > 0 {
		c.add("system schemas", CheckInfo, "never captured, so left out: "+strings.Join(skipped, ", "), "")
	}
	c.capture.all = len(c.opt.Schemas) == 0 && len(c.opt.Tables) == 0
	if c.capture.all {
		rows, err := c.db.QueryContext(ctx, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('"+
			strings.Join(checkSystemSchemas, "','")+"') ORDER BY SCHEMA_NAME")
		if err != nil {
			c.add("schemas", CheckWarn, "could not list schemas: "+err.Error(), "")
		} else {
			for rows.Next() {
				var s string
				if rows.Scan(&s) == nil {
					c.capture.wantSchema[s] = true
				}
			}
			rows.Close()
		}
	}
	c.capture.schemas = checkKeys(c.capture.wantSchema)
	for db := range tableSchemas {
		c.capture.schemas = append(c.capture.schemas, db)
	}
	sort.Strings(c.capture.schemas)
	c.capture.noSelect = map[string]bool{}
	if g == nil {
		return
	}

	var ok []string
	if c.capture.all && g.global("SELECT") {
		ok = append(ok, "*.* (every schema)")
	}
	for _, db := range checkKeys(c.capture.wantSchema) {
		if c.capture.all && g.global("SELECT") {
			break
		}
		if g.selectSchema(db) {
			ok = append(ok, db)
			continue
		}
		c.capture.noSelect[db] = true
		c.add("SELECT on "+db, CheckFail,
			fmt.Sprintf("%s cannot read schema %s, which is captured: bintap needs SELECT for snapshots and to read table definitions", c.account, db),
			fmt.Sprintf("GRANT SELECT ON %s.* TO %s;", checkQuoteIdent(db), c.account))
	}
	dbs := make([]string, 0, len(tableSchemas))
	for db := range tableSchemas {
		dbs = append(dbs, db)
	}
	sort.Strings(dbs)
	for _, db := range dbs {
		names := tableSchemas[db]
		sort.Strings(names)
		for _, t := range names {
			if g.selectTable(db, t) {
				ok = append(ok, db+"."+t)
				continue
			}
			c.capture.noSelect[db+"."+t] = true
			c.add("SELECT on "+db+"."+t, CheckFail,
				fmt.Sprintf("%s cannot read table %s.%s, which is captured: bintap needs SELECT for snapshots and to read table definitions", c.account, db, t),
				fmt.Sprintf("GRANT SELECT ON %s.%s TO %s;", checkQuoteIdent(db), checkQuoteIdent(t), c.account))
		}
	}
	switch {
	case len(ok) > 0:
		c.add("SELECT", CheckOK, "granted on "+checkList(ok, 20), "")
	case len(c.capture.noSelect) == 0 && c.capture.all:
		c.add("SELECT", CheckWarn, c.account+" can see no schema to capture; bintap needs SELECT on the schemas it captures",
			fmt.Sprintf("GRANT SELECT ON `yourdb`.* TO %s;", c.account))
	}
}

func checkKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkList joins names, at most max of them, with a count of the rest.
func checkList(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}
