package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// sizeLen is the length of a frame's size prefix.
const sizeLen = 4

var (
	errNegativeSize = errors.New("netio: negative request size")
	errTooLarge     = errors.New("netio: request larger than MaxRequestBytes")
)

// frameSize decodes a size prefix (len(prefix) >= sizeLen) and checks it
// against max.
func frameSize(prefix []byte, max int32) (int32, error) {
	size := int32(binary.BigEndian.Uint32(prefix))
	switch {
	case size < 0:
		return 0, fmt.Errorf("%w: %d", errNegativeSize, size)
	case size > max:
		return 0, fmt.Errorf("%w: %d > %d", errTooLarge, size, max)
	}
	return size, nil
}

// splitFrame returns the first whole frame in buf: its body (aliasing buf)
// and the bytes it takes with its prefix. n == 0 with a nil error means
// buf does not hold a whole frame yet; an error means the prefix is
// invalid and the connection must be closed. It never allocates.
func splitFrame(buf []byte, max int32) (body []byte, n int, err error) {
	if len(buf) < sizeLen {
		return nil, 0, nil
	}
	size, err := frameSize(buf, max)
	if err != nil {
		return nil, 0, err
	}
	n = sizeLen + int(size)
	if len(buf) < n {
		return nil, 0, nil
	}
	return buf[sizeLen:n], n, nil
}
