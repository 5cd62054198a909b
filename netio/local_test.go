package netio

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
)

// echoHandler answers each frame with its bytes reversed; "close" asks to
// close the connection, "quiet" gets no response, "panic" panics.
type echoHandler struct{}

func (echoHandler) Handle(_ context.Context, c *Conn, frame []byte) (*Response, error) {
	switch string(frame) {
	case "close":
		return nil, errors.New("asked to close")
	case "quiet":
		return nil, nil
	case "panic":
		panic("handler panic")
	}
	out := make([]byte, len(frame))
	for i, b := range frame {
		out[len(frame)-1-i] = b
	}
	r := new(Response)
	r.AppendBytes(out)
	return r, nil
}

// TestServeLocal: frames are answered in order with their size prefix,
// a nil response sends nothing, and a handler error or panic ends the
// connection (the client reads EOF) and ServeLocal returns it.
func TestServeLocal(t *testing.T) {
	f := func(frames []string, want []string, wantErr bool) {
		t.Helper()
		client, server := net.Pipe()
		defer client.Close()
		errc := make(chan error, 1)
		go func() { errc <- ServeLocal(context.Background(), echoHandler{}, NewLocalConn("", nil, nil), server) }()
		go func() {
			for _, fr := range frames {
				buf := binary.BigEndian.AppendUint32(nil, uint32(len(fr)))
				if _, err := client.Write(append(buf, fr...)); err != nil {
					return
				}
			}
		}()
		for _, w := range want {
			var size [4]byte
			if _, err := io.ReadFull(client, size[:]); err != nil {
				t.Fatalf("reading the answer %q: %v", w, err)
			}
			got := make([]byte, binary.BigEndian.Uint32(size[:]))
			if _, err := io.ReadFull(client, got); err != nil || string(got) != w {
				t.Fatalf("answer %q (%v), want %q", got, err, w)
			}
		}
		if !wantErr {
			client.Close()
		}
		err := <-errc
		if wantErr == (err == nil || errors.Is(err, io.EOF)) {
			t.Fatalf("ServeLocal returned %v (want an error: %v)", err, wantErr)
		}
	}
	f([]string{"abc", "quiet", "xy"}, []string{"cba", "yx"}, false)
	f([]string{"ab", "close", "never"}, []string{"ba"}, true)
	f([]string{"panic"}, nil, true)
}
