//go:build !cgo

package index

import "errors"

// The SQLite driver is C code: a bintap built with CGO_ENABLED=0 compiles
// but cannot open an index, so it says so plainly.
func init() {
	errNoCgo = errors.New("this bintap was built without cgo (CGO_ENABLED=0), and the change index needs the cgo SQLite driver: rebuild with gcc installed (make setup) and CGO_ENABLED=1")
}
