package netio

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/listener"
)

// whoHandler answers every request with "<listener name> <protocol>".
type whoHandler struct{}

func (whoHandler) Handle(_ context.Context, c *Conn, _ []byte) (*Response, error) {
	r := &Response{}
	r.AppendBytes([]byte(c.ListenerName() + " " + string(c.SecurityProtocol())))
	return r, nil
}

// TestSeveralListeners serves two listeners on different ports from one
// server: each connection knows the listener it came in on, and Shutdown
// closes both.
func TestSeveralListeners(t *testing.T) {
	cfg := testConfig()
	cfg.Listeners = []listener.Listener{
		{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: testHost},
		{Name: "CLIENT", Protocol: listener.SASLPlaintext, Host: testHost},
	}
	s, err := Listen(cfg, whoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := s.Addrs()
	if len(addrs) != 2 || addrs["PLAINTEXT"].String() == addrs["CLIENT"].String() || s.Addr() != addrs["PLAINTEXT"] {
		t.Fatalf("Addrs = %v, Addr = %v", addrs, s.Addr())
	}
	for name, want := range map[string]string{"PLAINTEXT": "PLAINTEXT PLAINTEXT", "CLIENT": "CLIENT SASL_PLAINTEXT"} {
		nc, err := net.DialTimeout("tcp", addrs[name].String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := &client{t: t, nc: nc, r: bufio.NewReader(nc)}
		c.send([]byte{1})
		if got := string(c.recv()); got != want {
			t.Fatalf("listener %s: got %q, want %q", name, got, want)
		}
		nc.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for name, a := range addrs {
		if nc, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
			nc.Close()
			t.Fatalf("listener %s still accepts after Shutdown", name)
		}
	}
}

// TestListenerBindFailure: when one listener cannot bind, none is left
// bound and the error names it.
func TestListenerBindFailure(t *testing.T) {
	busy, err := net.Listen("tcp", testHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig()
	cfg.Listeners = []listener.Listener{
		{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: testHost},
		{Name: "CLIENT", Protocol: listener.SASLPlaintext, Host: testHost, Port: busy.Addr().(*net.TCPAddr).Port},
	}
	_, err = Listen(cfg, whoHandler{})
	if err == nil || !strings.Contains(err.Error(), "listener CLIENT") {
		t.Fatalf("Listen = %v, want an error naming listener CLIENT", err)
	}
}
