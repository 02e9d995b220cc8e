//go:build unix

package source

import (
	"os"
	"syscall"
)

// openFile opens name for reading without waiting: O_NONBLOCK makes open(2)
// of a FIFO return at once instead of waiting for a writer, and changes
// nothing for a regular file.
func openFile(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
