package sink

import (
	"errors"
	"fmt"
	"io/fs"
)

// FileError is err, returned by operation op on the file at path, naming
// both once: the os package's own errors (a full disk: "write PATH: no
// space left on device") already carry them, others get them added.
func FileError(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}
