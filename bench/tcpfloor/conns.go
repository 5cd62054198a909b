package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The --conns mode: the floor of many connections with small requests (the
// matrix's conns-100 row). The sender keeps --inflight frames of
// --write-size bytes in flight on each of --conns connections; the
// receiver, one locked thread, waits in epoll_wait for readable sockets,
// reads what each holds (up to connReadSize), writes each whole frame to
// the next of --files page-cache files, and answers it with --response
// bytes, one write per socket per round of epoll_wait. With --combine, the
// frames of a round bound for the same file go out in one pwritev, as an
// ideal group append across connections would write them (no hand-off to
// another thread, nothing waited for).
//
// What a broker must do per request and this floor does not: parse and
// check it, index it, keep offsets, and hand it between the threads that
// read, append and answer.

// connReadSize is the most one read takes from a socket, as an event
// loop's read buffer (a variable so that a test can make frames arrive in
// pieces).
var connReadSize = 64 << 10

// floorConn is one accepted connection on the receiver.
type floorConn struct {
	fd  int
	buf []byte // what was read; whole frames are taken from its front
	n   int    // bytes in buf
	out []byte // responses of this round, written together
}

// receiveConns runs the sender as a child with conns connections and
// measures the receiving side, per request.
func receiveConns(dir string, files, conns, frame, inflight, response int, requests int64, combine bool) error {
	fds, ln, child, cleanup, err := start(dir, files, "--conns", strconv.Itoa(conns),
		"--inflight", strconv.Itoa(inflight), "--write-size", strconv.Itoa(frame),
		"--total", strconv.FormatInt(requests*int64(frame), 10), "--response", strconv.Itoa(response))
	if err != nil {
		return err
	}
	defer cleanup()
	offs := make([]int64, files)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	defer unix.Close(ep)
	cs := make([]*floorConn, conns)
	for i := range cs {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		f, err := c.(*net.TCPConn).File()
		c.Close()
		if err != nil {
			return err
		}
		fd, err := unix.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			return err
		}
		cs[i] = &floorConn{fd: fd, buf: make([]byte, connReadSize+frame+4)}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	runtime.LockOSThread()

	resp := make([]byte, max(response, 0))
	events := make([]unix.EpollEvent, conns)
	iovs := make([][][]byte, files)
	var done, seq, reads, writes, pwrites, waits int64
	var ru0, ru1 syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru0); err != nil {
		return err
	}
	t0 := time.Now()
	for done < requests {
		n, err := unix.EpollWait(ep, events, -1)
		waits++
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		ready := events[:n]
		for _, ev := range ready {
			c := cs[ev.Fd]
			m, err := unix.Read(c.fd, c.buf[c.n:min(len(c.buf), c.n+connReadSize)])
			reads++
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if m == 0 {
				return io.ErrUnexpectedEOF
			}
			c.n += m
			for p := 0; c.n-p >= 4; {
				size := int(binary.BigEndian.Uint32(c.buf[p:]))
				if size != frame {
					return fmt.Errorf("frame of %d bytes, want %d", size, frame)
				}
				if c.n-p < 4+size {
					break
				}
				f := int(seq % int64(files))
				seq++
				body := c.buf[p+4 : p+4+size]
				if combine {
					iovs[f] = append(iovs[f], body)
				} else {
					if _, err := unix.Pwrite(fds[f], body, offs[f]); err != nil {
						return fmt.Errorf("pwrite: %w", err)
					}
					pwrites++
					offs[f] += int64(size)
				}
				c.out = append(c.out, resp...)
				p += 4 + size
				done++
			}
		}
		if combine {
			for f, v := range iovs {
				if len(v) == 0 {
					continue
				}
				w, err := unix.Pwritev(fds[f], v, offs[f])
				if err != nil {
					return fmt.Errorf("pwritev: %w", err)
				}
				pwrites++
				offs[f] += int64(w)
				iovs[f] = v[:0]
			}
		}
		for _, ev := range ready {
			c := cs[ev.Fd]
			if len(c.out) > 0 {
				if err := writeAll(c.fd, c.out); err != nil {
					return fmt.Errorf("writing responses: %w", err)
				}
				writes++
				c.out = c.out[:0]
			}
			// Keep the partial frame at the front for the next read.
			whole := c.n - c.n%(4+frame)
			c.n = copy(c.buf, c.buf[whole:c.n])
		}
	}
	wall := time.Since(t0)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru1); err != nil {
		return err
	}
	if err := child.Wait(); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	user := secs(ru1.Utime) - secs(ru0.Utime)
	sys := secs(ru1.Stime) - secs(ru0.Stime)
	su := child.ProcessState.SysUsage().(*syscall.Rusage)
	r := float64(requests)
	gb := r * float64(frame) / (1 << 30)
	f := map[string]float64{"requests_per_s": r / wall.Seconds(), "us_per_request": (user + sys) / r * 1e6,
		"cpu_s_per_gb": (user + sys) / gb, "user_s": user, "sys_s": sys,
		"epoll_waits_per_request": float64(waits) / r, "reads_per_request": float64(reads) / r,
		"pwrites_per_request": float64(pwrites) / r, "writes_per_request": float64(writes) / r,
		"sender_us_per_request": (secs(su.Utime) + secs(su.Stime)) / r * 1e6}
	emit(fmt.Sprintf("conns=%d inflight=%d frame=%d requests=%d combine=%v requests/s=%.0f receiver us/request=%.2f (user %.2f s, sys %.2f s) per request: epoll_wait %.3f read %.3f pwrite %.3f write %.3f; sender us/request=%.2f",
		conns, inflight, frame, requests, combine, f["requests_per_s"], f["us_per_request"], user, sys,
		f["epoll_waits_per_request"], f["reads_per_request"], f["pwrites_per_request"], f["writes_per_request"],
		f["sender_us_per_request"]), f)
	return nil
}

// writeAll writes b to the non-blocking socket fd, waiting for room when
// the socket's buffer is full (it is not, in practice: the sender reads
// every answer as it comes).
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case err == unix.EAGAIN:
			if _, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, -1); err != nil && err != unix.EINTR {
				return err
			}
			continue
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		}
		b = b[n:]
	}
	return nil
}

// sendConns is the --conns mode's sender: conns connections, each with up
// to inflight frames of frame bytes unanswered, requests in all.
func sendConns(addr string, conns, inflight, frame int, requests int64, response int) error {
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		share := requests / int64(conns)
		if int64(i) < requests%int64(conns) {
			share++
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sendOne(c, inflight, frame, share, response)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// sendOne writes n frames on c with at most inflight unanswered.
func sendOne(c net.Conn, inflight, frame int, n int64, response int) error {
	slots := make(chan struct{}, inflight)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, max(response, 0))
		for range n {
			if _, err := io.ReadFull(c, buf); err != nil {
				done <- err
				return
			}
			<-slots
		}
		done <- nil
	}()
	buf := frameBytes(frame)
	for range n {
		slots <- struct{}{}
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
	return <-done
}
