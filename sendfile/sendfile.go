package sendfile

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaxChunk is the most bytes asked of one sendfile(2) call. Linux moves at
// most 0x7ffff000 bytes per call anyway; a 1 GiB chunk keeps the count in
// an int on every platform.
const MaxChunk = 1 << 30

// ErrShortFile means the file ended before the region did (sendfile(2) or
// pread(2) returned 0 bytes before Len bytes were sent).
var ErrShortFile = errors.New("sendfile: file shorter than region")

// ErrNoFile means the Region has no File.
var ErrNoFile = errors.New("sendfile: region has no file")

var (
	sentBytes   atomic.Int64
	copiedBytes atomic.Int64
)

// Counters are the bytes moved since the process started.
type Counters struct {
	SendfileBytes int64 // sent by sendfile(2)
	CopiedBytes   int64 // sent by Copy (pread + write)
}

// Stats returns the package's byte counters.
func Stats() Counters {
	return Counters{SendfileBytes: sentBytes.Load(), CopiedBytes: copiedBytes.Load()}
}

// IsUnsupported reports whether err from Send means sendfile(2) cannot be
// used for this socket or file (EINVAL, ENOSYS, EOPNOTSUPP), so the caller
// should fall back to Copy for the rest of the region.
func IsUnsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) ||
		errors.Is(err, unix.EOPNOTSUPP)
}

// sender is the state of one Send. Its write method value is bound once
// when the sender is created, so passing it to RawConn.Write does not
// allocate a closure per call; senders are pooled.
type sender struct {
	srcFd     int
	off       int64
	remaining int64
	sent      int64
	err       error
	write     func(fd uintptr) bool
}

var senderPool = sync.Pool{New: func() any {
	s := new(sender)
	s.write = s.writeTo
	return s
}}

// writeTo runs on the goroutine inside RawConn.Write. It returns false to
// wait for writability (EAGAIN) and true when done or failed.
func (s *sender) writeTo(fd uintptr) bool {
	for s.remaining > 0 {
		n, err := unix.Sendfile(int(fd), s.srcFd, &s.off, int(min(s.remaining, MaxChunk)))
		if n > 0 {
			s.sent += int64(n)
			s.remaining -= int64(n)
		}
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			s.err = err
			return true
		case n == 0:
			s.err = ErrShortFile
			return true
		}
	}
	return true
}

// Send writes r's bytes to the socket behind rc with sendfile(2) and
// returns how many it sent. rc must be a non-blocking socket registered
// with the runtime netpoller (a *net.TCPConn's SyscallConn). Send uses only
// explicit offsets; r.File's position is neither read nor changed. It does
// not release r.
func Send(rc syscall.RawConn, r Region) (int64, error) {
	if r.Len <= 0 {
		return 0, nil
	}
	if r.File == nil {
		return 0, ErrNoFile
	}
	s := senderPool.Get().(*sender)
	s.srcFd, s.off, s.remaining, s.sent, s.err = int(r.File.Fd()), r.Off, r.Len, 0, nil
	werr := rc.Write(s.write)
	sent, err := s.sent, s.err
	s.err = nil
	senderPool.Put(s)
	sentBytes.Add(sent)
	if werr != nil {
		return sent, fmt.Errorf("sendfile: socket write of %s at offset %d: %w", r.File.Name(), r.Off+sent, werr)
	}
	if err != nil {
		return sent, fmt.Errorf("sendfile: %s at offset %d (%d of %d bytes sent): %w",
			r.File.Name(), r.Off+sent, sent, r.Len, err)
	}
	return sent, nil
}

// Copy writes r's bytes to w by reading them with pread(2) into buf and
// writing them, the fallback when sendfile(2) is unsupported; the bytes
// count as copied (Stats). buf must not be empty; its size sets the size
// of each read and write.
func Copy(w io.Writer, r Region, buf []byte) (int64, error) {
	return copyRegion(w, r, buf, &copiedBytes)
}

// CopyThrough is Copy for a writer that must see the bytes (a TLS
// session encrypts them): not a fallback, so not counted in Stats; the
// caller counts them.
func CopyThrough(w io.Writer, r Region, buf []byte) (int64, error) {
	return copyRegion(w, r, buf, nil)
}

func copyRegion(w io.Writer, r Region, buf []byte, counter *atomic.Int64) (int64, error) {
	if len(buf) == 0 {
		panic("BUG: sendfile: copy with an empty buffer")
	}
	if r.Len > 0 && r.File == nil {
		return 0, ErrNoFile
	}
	var sent int64
	for sent < r.Len {
		n, err := copyChunk(w, r, sent, buf)
		sent += int64(n)
		if counter != nil {
			counter.Add(int64(n))
		}
		if err != nil {
			return sent, fmt.Errorf("sendfile: copy %s at offset %d (%d of %d bytes sent): %w",
				r.File.Name(), r.Off+sent, sent, r.Len, err)
		}
	}
	return sent, nil
}

// copyChunk reads up to len(buf) bytes of r at r.Off+done and writes them.
func copyChunk(w io.Writer, r Region, done int64, buf []byte) (int, error) {
	chunk := buf[:min(int64(len(buf)), r.Len-done)]
	n, err := r.File.ReadAt(chunk, r.Off+done)
	if n == 0 {
		if err == nil || err == io.EOF {
			err = ErrShortFile
		}
		return 0, err
	}
	m, werr := w.Write(chunk[:n])
	if werr != nil {
		return m, werr
	}
	return m, nil
}
