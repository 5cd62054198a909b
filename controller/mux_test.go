package controller

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestDialWaitsForARefusingMember: a dial to a quorum member that refuses
// connections is retried until the transport's timeout, so a member that
// starts listening meanwhile is connected to (raft would otherwise count a
// failure and back off for up to 10 s); the controller's stop ends the
// retries.
func TestDialWaitsForARefusingMember(t *testing.T) {
	addr := freeAddr(t)
	m := &muxLayer{closed: make(chan struct{})}
	listening := make(chan net.Listener, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // refused until then
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
		}
		listening <- ln
	}()
	c, err := m.Dial(raft.ServerAddress(addr), 5*time.Second)
	ln := <-listening
	if ln != nil {
		defer ln.Close()
	}
	if err != nil {
		t.Fatalf("dial to a member that listens 0.3 s later: %v", err)
	}
	c.Close()

	quit := make(chan struct{})
	m.quit = quit
	gone := freeAddr(t)
	done := make(chan error, 1)
	go func() {
		_, err := m.Dial(raft.ServerAddress(gone), time.Minute)
		done <- err
	}()
	close(quit)
	if err := <-done; !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after the stop: %v, want the refusal", err)
	}
}
