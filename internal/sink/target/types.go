package target

import (
	"errors"

	"github.com/bintap/bintap/internal/change"
)

// Column types and values of each dialect. (Placeholder: being written.)

var errNotYet = errors.New("target types: not written yet")

func (postgres) columnType(c *change.Column) (string, error)        { return "", errNotYet }
func (postgres) arg(c *change.Column, v *change.Value) (any, error) { return nil, errNotYet }
func (postgres) param(c *change.Column, n int) string               { return "" }
func (mysql) columnType(c *change.Column) (string, error)           { return "", errNotYet }
func (mysql) arg(c *change.Column, v *change.Value) (any, error)    { return nil, errNotYet }
func (mysql) param(c *change.Column, n int) string                  { return "" }
func (duck) columnType(c *change.Column) (string, error)            { return "", errNotYet }
func (duck) arg(c *change.Column, v *change.Value) (any, error)     { return nil, errNotYet }
func (duck) param(c *change.Column, n int) string                   { return "" }
