package binlog

import (
	"fmt"

	"github.com/bintap/bintap/internal/change"
)

// partialJSON decodes a MySQL partial JSON update (a list of JSON diffs) of
// column i and applies it to the before image's value of that column.
func (d *TableDecoder) partialJSON(data []byte, p *colPlan, i int, row []change.Value) (int, error) {
	return 0, fmt.Errorf("table %s column %d (%s): partial JSON update cannot be applied: set binlog_row_value_options=''", d.tableErr, i+1, p.name)
}
