package target

import "strings"

func (postgres) quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }
