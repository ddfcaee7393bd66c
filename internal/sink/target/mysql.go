package target

import "strings"

func (mysql) quote(ident string) string { return "`" + strings.ReplaceAll(ident, "`", "``") + "`" }
