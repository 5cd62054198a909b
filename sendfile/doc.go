// Package sendfile sends byte ranges of files to sockets without copying
// them through user space.
//
// A Region names a range of an open file (a segment): the file descriptor
// is shared by every connection that reads the segment, so only explicit
// offsets are used (sendfile(2) with an offset pointer, pread(2)), never the
// file position, and the sender never closes the file. The Region's Ref is
// released by the caller once the bytes have left or the send was abandoned.
//
// Send runs sendfile(2) inside syscall.RawConn.Write: when the socket's
// send buffer is full (EAGAIN) it returns false to the runtime, whose
// netpoller parks the goroutine until the socket is writable again. A slow
// reader therefore stalls only the goroutine that sends to it, never an
// event loop. Ranges larger than MaxChunk are sent in chunks; EINTR is
// retried; a file shorter than the region ends the send with ErrShortFile
// instead of spinning on 0-byte returns.
//
// Copy is the fallback (pread into a caller's buffer, then Write) for
// sockets or files that sendfile(2) does not support (IsUnsupported), and
// for TLS later.
//
// Both paths count the bytes they moved; Stats reports the totals, so an
// operator can check that fetched bytes leave by sendfile.
//
// Neither Send nor Copy allocates on the success path.
package sendfile
