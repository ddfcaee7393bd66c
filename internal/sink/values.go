package sink

import (
	"errors"
	"fmt"
	"strings"
)

// The value helpers every setting uses, the configuration's own and the
// outputs'.

// OneOf accepts v when it is one of allowed; the error lists them.
func OneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("accepted values are %s", strings.Join(allowed, ", "))
}

// ParseBool reads true/false, 1/0, yes/no and on/off.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("accepted values are true or false")
}

// List splits a comma-separated value, trimming spaces and dropping empty parts.
func List(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
