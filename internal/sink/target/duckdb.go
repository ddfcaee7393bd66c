package target

import "strings"

func (duck) quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }
