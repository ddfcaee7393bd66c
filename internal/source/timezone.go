package source

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/config"
)

// ServerTimeZone is the source's time zone (--timezone SERVER): @@time_zone,
// or @@system_time_zone when that is SYSTEM. An offset (+05:30) is a fixed
// zone, a name the Go zone database knows (Europe/Berlin, UTC) is that zone;
// an abbreviation it does not know (IST, CEST) becomes the server's current
// offset, with a warning that daylight-saving changes are not followed.
func ServerTimeZone(ctx context.Context, src config.Source, log *slog.Logger) (*time.Location, error) {
	if r, ok := src.Route.(*Router); ok {
		if err := r.FindPrimary(ctx); err != nil {
			return nil, err
		}
	}
	db, err := OpenDB(src)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, src.ConnectTimeout())
	defer cancel()
	var tz, sys sql.NullString
	var offset int64
	if err := db.QueryRowContext(ctx, "SELECT @@time_zone, @@system_time_zone, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())").Scan(&tz, &sys, &offset); err != nil {
		return nil, fmt.Errorf("read the source's time zone (--timezone SERVER): %w", connectError(err))
	}
	loc, exact := zoneOf(tz.String, sys.String, offset)
	if exact {
		log.Info("TIMESTAMP values are written in the source's time zone", "time_zone", tz.String, "system_time_zone", sys.String, "zone", loc.String())
	} else {
		log.Warn("the source's time zone is not a zone name bintap knows: TIMESTAMP values are written at its current offset, and a daylight-saving change is not followed (give --timezone an IANA name to follow it)",
			"time_zone", tz.String, "system_time_zone", sys.String, "offset", loc.String())
	}
	return loc, nil
}

// zoneOf turns the server's time_zone and system_time_zone, and its current
// offset from UTC in seconds, into a location; exact is false when only the
// offset could be used.
func zoneOf(tz, sys string, offset int64) (loc *time.Location, exact bool) {
	name := strings.TrimSpace(tz)
	if strings.EqualFold(name, "SYSTEM") || name == "" {
		name = strings.TrimSpace(sys)
	}
	if l, ok := parseOffset(name); ok {
		return l, true
	}
	if name != "" && name != "Local" {
		if l, err := time.LoadLocation(name); err == nil {
			return l, true
		}
	}
	return fixedZone(offset), false
}

// parseOffset reads +HH:MM / -HH:MM.
func parseOffset(s string) (*time.Location, bool) {
	if len(s) < 5 || (s[0] != '+' && s[0] != '-') {
		return nil, false
	}
	h, m, ok := strings.Cut(s[1:], ":")
	if !ok {
		return nil, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh > 14 || mm > 59 {
		return nil, false
	}
	secs := int64(hh*3600 + mm*60)
	if s[0] == '-' {
		secs = -secs
	}
	return fixedZone(secs), true
}

// fixedZone is a zone at a fixed offset, named as MySQL writes offsets.
func fixedZone(secs int64) *time.Location {
	if secs == 0 {
		return time.UTC
	}
	sign, a := '+', secs
	if a < 0 {
		sign, a = '-', -a
	}
	return time.FixedZone(fmt.Sprintf("%c%02d:%02d", sign, a/3600, a%3600/60), int(secs))
}
