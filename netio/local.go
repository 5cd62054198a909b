package netio

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync/atomic"

	"github.com/sluice/sluice/listener"
)

// In-process connections: a client inside sluiced (the web console) talks
// to the Handler over one end of a net.Pipe, framed as on a socket, and
// ServeLocal runs the other end. Requests are served one at a time in
// arrival order, like a socket's, and file regions are copied (pread), not
// sent with sendfile.

// localIDs numbers in-process connections from the top of the id space,
// apart from the sockets' ids.
var localIDs atomic.Uint64

func init() { localIDs.Store(1 << 62) }

// NewLocalConn returns the Conn of an in-process client. It is on a
// PLAINTEXT listener named listenerName; remote is the address ACLs and
// logs see (the console's browser).
func NewLocalConn(listenerName string, remote, local net.Addr) *Conn {
	return &Conn{id: localIDs.Add(1), remoteAddr: remote, localAddr: local, listener: listenerName,
		protocol: listener.Plaintext, maxDefault: DefaultMaxRequestBytes}
}

// ServeLocal serves the requests read from rw with h until rw fails or
// h asks to close the connection; it closes rw and returns why it
// stopped (io.EOF when the client closed). ctx is the Handler's context.
// A panic in h closes the connection, as on a socket.
func ServeLocal(ctx context.Context, h Handler, c *Conn, rw io.ReadWriteCloser) error {
	defer rw.Close()
	rd := bufio.NewReader(rw)
	var size [4]byte
	for {
		if _, err := io.ReadFull(rd, size[:]); err != nil {
			return err
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 0 || n > c.maxDefault {
			return fmt.Errorf("netio: local request of %d bytes (limit %d)", n, c.maxDefault)
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(rd, frame); err != nil {
			return err
		}
		resp, err := handleLocal(ctx, h, c, frame)
		if err == nil && resp.IsPending() {
			resp, err = waitLocal(resp) // one request at a time: nothing to overlap
		}
		if err != nil {
			return err
		}
		if resp == nil {
			continue
		}
		err = writeLocal(rw, resp)
		resp.Release()
		if err != nil {
			return err
		}
	}
}

func handleLocal(ctx context.Context, h Handler, c *Conn, frame []byte) (resp *Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("netio: handler panicked on a local connection: %v\n%s", p, debug.Stack())
		}
	}()
	return h.Handle(ctx, c, frame)
}

// waitLocal completes a Pending response, recovering a panic as Handle's.
func waitLocal(pending *Response) (resp *Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("netio: pending response panicked on a local connection: %v\n%s", p, debug.Stack())
		}
	}()
	return pending.Wait()
}

// writeLocal writes resp with its size prefix in one Write (a net.Pipe
// delivers each Write whole to the reader's Reads).
func writeLocal(w io.Writer, resp *Response) error {
	buf := make([]byte, 4, 4+resp.Len())
	binary.BigEndian.PutUint32(buf, uint32(resp.Len()))
	bw := &appendWriter{buf}
	if _, err := resp.WriteTo(bw); err != nil {
		return err
	}
	if _, err := w.Write(bw.b); err != nil {
		return fmt.Errorf("netio: writing a local response: %w", err)
	}
	return nil
}

type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}
