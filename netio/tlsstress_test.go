package netio

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/listener"
)

// TestTLSStreamIntegrityUnderChurn is issue 17's "bad record MAC" check:
// several TLS clients (TLS 1.3 and 1.2) pipeline requests whose responses
// mix byte runs and file regions (on PLAINTEXT those go by sendfile; on
// TLS they must be read, encrypted and written through the session),
// writing while the server writes, while on the same server PLAINTEXT
// connections open and close, ClientHellos to the PLAINTEXT listener are
// refused (netio's one raw write to a descriptor) and failed handshakes
// come and go on the SSL listener. Descriptor numbers are reused all the
// time, so a write or read of a stale or raw descriptor, a sendfile on a
// TLS socket, or two writers on one session would corrupt a TLS stream:
// the client would fail to decrypt a record or a response would differ,
// and the server would count a handshake failure nobody caused.
func TestTLSStreamIntegrityUnderChurn(t *testing.T) {
	testTLS = newTLSFixture(t)
	defer func() { testTLS = nil }()
	h := newTestHandler(t, 4<<20)
	cfg := testConfig() // the SSL listener
	cfg.Listeners = append(cfg.Listeners, listener.Listener{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: testHost})
	s := startServer(t, cfg, h)
	addrs := s.Addrs()

	stop := make(chan struct{})
	var churned sync.WaitGroup
	var badHandshakes atomic.Uint64
	churnErr := make(chan error, 3)
	churn := func(name string, f func() error) {
		churned.Add(1)
		go func() {
			defer churned.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := f(); err != nil {
					churnErr <- fmt.Errorf("%s: %w", name, err)
					return
				}
			}
		}()
	}
	churn("plaintext round trip", func() error { return plaintextRoundTrip(addrs["PLAINTEXT"], h) })
	churn("ClientHello on PLAINTEXT", func() error { return helloOnPlaintext(addrs["PLAINTEXT"]) })
	churn("garbage on SSL", func() error {
		badHandshakes.Add(1)
		return garbageHandshake(addrs["SSL"])
	})

	const clients, perClient = 4, 40
	errc := make(chan error, clients)
	for i := range clients {
		cc := testTLS.clientConfig()
		if i%2 == 1 {
			cc.MaxVersion = tls.VersionTLS12
		}
		go func() { errc <- pipelineTLS(addrs["SSL"].String(), cc, h, uint32(i), perClient) }()
	}
	var failed []error
	for range clients {
		if err := <-errc; err != nil {
			failed = append(failed, err)
		}
	}
	close(stop)
	churned.Wait()
	close(churnErr)
	for err := range churnErr {
		failed = append(failed, err)
	}
	if err := errors.Join(failed...); err != nil {
		t.Fatal(err)
	}
	// Every handshake that failed is one of the garbage ones: none of the
	// pipelining clients' sessions broke on the server's side either.
	eventually(t, "the garbage handshakes to be counted", func() bool {
		return s.Stats().TLSHandshakeFailures >= badHandshakes.Load()
	})
	if st := s.Stats(); st.TLSHandshakeFailures != badHandshakes.Load() || st.TLSHandshakes < clients {
		t.Fatalf("%d garbage handshakes, but %d TLS handshake failures and %d handshakes (want >= %d)",
			badHandshakes.Load(), st.TLSHandshakeFailures, st.TLSHandshakes, clients)
	}
}

// pipelineTLS sends n requests on one TLS connection from one goroutine,
// in pieces of random size, while reading and checking the responses on
// another.
func pipelineTLS(addr string, cc *tls.Config, h *testHandler, seed uint32, n int) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	tc := tls.Client(nc, cc)
	tc.SetDeadline(time.Now().Add(60 * time.Second))
	rng := rand.New(rand.NewPCG(uint64(seed), 17))
	reqs := make([][]byte, n)
	for i := range reqs {
		id := seed<<16 | uint32(i)
		off, ln := rng.Uint64N(2<<20), 1+rng.Uint64N(256<<10)
		switch i % 3 {
		case 0:
			reqs[i] = req(opFile, id, u64(off), u64(ln))
		case 1:
			reqs[i] = req(opMixed, id, u64(off), u64(ln))
		default:
			payload := make([]byte, rng.IntN(40<<10))
			for j := range payload {
				payload[j] = byte(rng.Uint32())
			}
			reqs[i] = req(opEcho, id, payload)
		}
	}
	wire := encode(reqs...)
	sent := make(chan error, 1)
	go func() {
		for len(wire) > 0 {
			k := min(len(wire), 1+rng.IntN(32<<10))
			if _, err := tc.Write(wire[:k]); err != nil {
				sent <- err
				return
			}
			wire = wire[k:]
		}
		sent <- nil
	}()
	r := bufioReader(tc)
	for i, q := range reqs {
		got, err := readFrame(r)
		if err != nil {
			return fmt.Errorf("client %d: response %d of %d: %w", seed, i, n, err)
		}
		if want := h.want(q); !bytes.Equal(got, want) {
			return fmt.Errorf("client %d: response %d (op %q): %d bytes, want %d, first difference at %d",
				seed, i, q[0], len(got), len(want), firstDiff(got, want))
		}
	}
	if err := <-sent; err != nil {
		return fmt.Errorf("client %d: write: %w", seed, err)
	}
	return nil
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [sizeLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, uint32(hdr[0])<<24|uint32(hdr[1])<<16|uint32(hdr[2])<<8|uint32(hdr[3]))
	_, err := io.ReadFull(r, b)
	return b, err
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// plaintextRoundTrip opens a PLAINTEXT connection, gets a file region
// back (sendfile) and closes.
func plaintextRoundTrip(addr net.Addr, h *testHandler) error {
	nc, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	q := req(opFile, 1, u64(4096), u64(64<<10))
	if _, err := nc.Write(encode(q)); err != nil {
		return err
	}
	got, err := readFrame(nc)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, h.want(q)) {
		return errors.New("response differs")
	}
	return nil
}

// helloOnPlaintext sends the start of a ClientHello to the PLAINTEXT
// listener and reads until the server closes (after its alert).
func helloOnPlaintext(addr net.Addr) error {
	nc, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write([]byte{tlsHandshakeRecord, tlsMajorVersion, 0x01, 0x02, 0x00, 0x01}); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, nc)
	if err != nil && !isReset(err) {
		return err
	}
	return nil
}

// garbageHandshake sends bytes that are not a ClientHello to the SSL
// listener and reads until the server closes.
func garbageHandshake(addr net.Addr) error {
	nc, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(encode(req(opEcho, 1, []byte("not TLS")))); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, nc)
	if err != nil && !isReset(err) {
		return err
	}
	return nil
}

// isReset: closing a socket with unread input resets it.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
