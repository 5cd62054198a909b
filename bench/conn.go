package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// clientID is sent in every request header.
const clientID = "sluice-bench"

// errBroker marks an error code in a response.
var errBroker = errors.New("bench: broker error")

// conn is one broker connection with pipelined requests: send writes a
// request and queues what the response needs; one reader goroutine (see
// pipeline) reads responses in order and checks each correlation id.
type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	corr int32
	fmt  *kmsg.RequestFormatter
	wbuf []byte
	rbuf []byte
}

// dial connects to addr, with TLS when tc is set (SSL and SASL_SSL
// listeners), and authenticates with s (if s names a mechanism).
func dial(ctx context.Context, addr string, tc *tls.Config, s SASL) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: cannot connect to %s: %w", addr, err)
	}
	if tc != nil {
		if tc.ServerName == "" {
			tc = tc.Clone()
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		t := tls.Client(nc, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("bench: TLS handshake with %s: %w", addr, err)
		}
		nc = t
	}
	c := &conn{
		nc:  nc,
		br:  bufio.NewReaderSize(nc, 256<<10),
		fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)),
	}
	if err := c.authenticate(s); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *conn) Close() error { return c.nc.Close() }

func (c *conn) nextCorr() int32 {
	c.corr++
	return c.corr
}

// writeRequest encodes r with kmsg and writes it; it returns the
// correlation id.
func (c *conn) writeRequest(r kmsg.Request) (int32, error) {
	id := c.nextCorr()
	c.wbuf = c.fmt.AppendRequest(c.wbuf[:0], r, id)
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return 0, fmt.Errorf("bench: cannot send %s request: %w", kmsg.NameForKey(r.Key()), err)
	}
	return id, nil
}

// readFrame reads one response frame into the connection's buffer (valid
// until the next read), checks its correlation id and returns the body
// after the correlation id. flexible skips the v1 header's tag buffer.
func (c *conn) readFrame(corr int32, flexible bool) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return nil, fmt.Errorf("bench: cannot read response header: %w", err)
	}
	size := int(binary.BigEndian.Uint32(hdr[:4])) - 4
	got := int32(binary.BigEndian.Uint32(hdr[4:]))
	if got != corr {
		return nil, fmt.Errorf("bench: response correlation id %d, want %d", got, corr)
	}
	if size < 0 || size > 1<<30 {
		return nil, fmt.Errorf("bench: response size %d out of range", size)
	}
	if cap(c.rbuf) < size {
		c.rbuf = make([]byte, size)
	}
	body := c.rbuf[:size]
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, fmt.Errorf("bench: cannot read %d-byte response: %w", size, err)
	}
	if flexible && len(body) > 0 {
		body = body[1:] // empty tag buffer (a bench request never gets tags)
	}
	return body, nil
}

// roundTrip sends r and decodes its response into resp (same version).
func (c *conn) roundTrip(r kmsg.Request, resp kmsg.Response) error {
	id, err := c.writeRequest(r)
	if err != nil {
		return err
	}
	flexible := r.IsFlexible() && r.Key() != 18 // ApiVersions: never a tagged header
	body, err := c.readFrame(id, flexible)
	if err != nil {
		return err
	}
	resp.SetVersion(r.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("bench: cannot decode %s response: %w", kmsg.NameForKey(r.Key()), err)
	}
	return nil
}

// setDeadline bounds every later read and write (zero: none).
func (c *conn) setDeadline(t time.Time) error { return c.nc.SetDeadline(t) }
