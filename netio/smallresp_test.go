package netio

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A recycled small response is empty again, keeping only its way home;
// a Response not made by NewSmallResponse is left alone.
func TestSmallResponseRecycleResets(t *testing.T) {
	h := newTestHandler(t, 1<<10)
	r, buf := NewSmallResponse()
	if len(buf) != 0 || cap(buf) != SmallResponseBytes {
		t.Fatalf("buffer len %d cap %d, want 0 and %d", len(buf), cap(buf), SmallResponseBytes)
	}
	home := r.home
	if home == nil {
		t.Fatal("NewSmallResponse gave a Response without its pool entry")
	}
	r.AppendBytes(append(buf, "abc"...))
	r.AppendRegion(h.region(0, 10))
	r.MarkReplica()
	r.recycle()
	if want := (Response{home: home}); !responsesEqual(*r, want) {
		t.Fatalf("recycled response %+v, want it empty", *r)
	}
	plain := &Response{}
	plain.AppendBytes([]byte("x"))
	plain.recycle()
	if len(plain.parts) != 1 || plain.home != nil {
		t.Fatalf("a plain response was changed by recycle: %+v", *plain)
	}
}

func responsesEqual(a, b Response) bool {
	firstEmpty := func(r Response) bool {
		p := r.first[0]
		return p.b == nil && !p.isFile && p.region.File == nil && p.region.Len == 0
	}
	return len(a.parts) == len(b.parts) && (a.parts == nil) == (b.parts == nil) && firstEmpty(a) && firstEmpty(b) &&
		a.files == b.files && a.replica == b.replica && a.wait == nil && b.wait == nil && a.home == b.home
}

// Small pooled responses go back to the pool once written, on every
// path: written in place, held before quick frames, behind a pending
// response (the completer), by the writer goroutine after a file region.
// Several connections at once reuse each other's responses; each client
// gets every answer intact and in order, which fails if a response went
// back to the pool before its bytes left (the next request's handler
// would overwrite them).
func TestSmallResponsesIntact(t *testing.T) {
	h := newTestHandler(t, 1<<20)
	h.quickOps = string([]byte{opSmall, opEcho})
	s := startServer(t, testConfig(), h)
	const conns, perConn = 6, 300
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for ci := range conns {
		c := dial(t, s)
		wg.Go(func() {
			var reqs [][]byte
			for i := range perConn {
				id := uint32(ci*perConn + i)
				payload := bytes.Repeat([]byte{byte('a' + (ci+i)%26)}, (i*7)%(SmallResponseBytes+8))
				switch i % 10 {
				case 3:
					reqs = append(reqs, req(opFile, id, u64(uint64(i*3001%(1<<19))), u64(uint64(1+i%500))))
				case 7:
					reqs = append(reqs, req(opPend, id))
					h.release(id) // its wait returns at once, on the completer
				default:
					reqs = append(reqs, req(opSmall, id, payload))
				}
			}
			sent := c.sendAsync(reqs...)
			for i, q := range reqs {
				got, err := c.tryRecv(10 * time.Second)
				want := h.want(q)
				if q[0] == opPend {
					want = append(append(want, 'P'), h.data[:10]...)
				}
				if err == nil && !bytes.Equal(got, want) {
					err = fmt.Errorf("got %q, want %q", got, want)
				}
				if err != nil {
					errs <- fmt.Errorf("conn %d, response %d (op %q): %w", ci, i, q[0], err)
					return
				}
			}
			errs <- <-sent
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
