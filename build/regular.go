package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// errNotRegular marks a path that is not a regular file. Readers refuse such paths before opening them: opening a
// named pipe for reading blocks until something writes to it, and reading a device may never end, so a FIFO named
// in a kustomization or left in a plain tree would hang the render.
var errNotRegular = errors.New("not a regular file")

// regular returns an error wrapping errNotRegular, saying what the file is instead, unless mode is a regular file's.
func regular(mode fs.FileMode) error {
	if mode.IsRegular() {
		return nil
	}
	var kind string
	switch {
	case mode&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case mode&fs.ModeCharDevice != 0, mode&fs.ModeDevice != 0:
		kind = "a device"
	case mode&fs.ModeSocket != 0:
		kind = "a socket"
	case mode.IsDir():
		kind = "a directory"
	default:
		kind = "a special file"
	}
	return fmt.Errorf("is %s, %w: statepack reads only regular files; replace it with a file", kind, errNotRegular)
}

// openRegular opens a regular file for reading, following symlinks, and refuses anything else before opening it.
// The file is opened non-blocking and checked again, so that a pipe swapped in after the first check cannot block.
func openRegular(p string) (*os.File, fs.FileInfo, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, nil, err
	}
	if err := regular(st.Mode()); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	if st, err = f.Stat(); err == nil {
		err = regular(st.Mode())
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}
