//go:build !unix

package source

import "os"

// openFile opens name for reading. Systems outside unix have no FIFOs that
// a path can name and open(2) would wait on.
func openFile(name string) (*os.File, error) { return os.Open(name) }
