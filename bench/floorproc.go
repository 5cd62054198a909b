package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// A floor in two processes, as a broker run has: this process plays the
// generator and a copy of the running binary, started with floorChildEnv
// set, plays the broker's side.
//
//	tcp-to-file:  this process ──TCP──▶ child: read, write to its files, ack 1 byte
//	sendfile:     child: sendfile(file) ──TCP──▶ this process: read, discard
//
// The clock starts once the child's connections are accepted (the child's
// start-up is not timed) and stops at the last ack (tcp-to-file: the
// child's last write) or the last EOF (sendfile). A binary opts in by
// calling ServeFloorChild first thing in main (or TestMain); without it
// the floor runs both ends in this process and says so in Measures.

// floorChildEnv holds a floorChildSpec as JSON.
const floorChildEnv = "SLUICE_BENCH_FLOOR_CHILD"

// childCapable is set by ServeFloorChild: this binary can be re-run as a
// floor child.
var childCapable atomic.Bool

// ServeFloorChild runs the floor child and exits when this process was
// started as one; otherwise it notes that the binary can start one and
// returns at once. Call it before anything else in main or TestMain.
func ServeFloorChild() {
	v := os.Getenv(floorChildEnv)
	if v == "" {
		childCapable.Store(true)
		return
	}
	var spec floorChildSpec
	err := json.Unmarshal([]byte(v), &spec)
	if err == nil {
		err = spec.run()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "floor child: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// floorChildSpec is the child's job.
type floorChildSpec struct {
	Role  string `json:"role"` // "to-file" or "sendfile"
	Addr  string `json:"addr"` // the parent's listener
	Conns int    `json:"conns"`
	Dir   string `json:"dir,omitempty"`   // to-file: where the files go
	Path  string `json:"path,omitempty"`  // sendfile: the file to send
	Bytes int64  `json:"bytes,omitempty"` // sendfile: bytes per connection
}

func (s floorChildSpec) run() error {
	errs := make([]error, s.Conns)
	var wg sync.WaitGroup
	for i := range errs {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("bench: floor: dial: %w", err)
		}
		tc := c.(*net.TCPConn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tc.Close()
			errs[i] = s.serve(tc)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s floorChildSpec) serve(tc *net.TCPConn) error {
	switch s.Role {
	case "to-file":
		return childToFile(tc, s.Dir)
	case "sendfile":
		var goByte [1]byte
		if _, err := io.ReadFull(tc, goByte[:]); err != nil {
			return fmt.Errorf("bench: floor: waiting for the start: %w", err)
		}
		if err := sendFileOn(context.Background(), tc, s.Path, s.Bytes); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, tc) // until the parent has read it all
		return err
	}
	return fmt.Errorf("bench: floor: unknown child role %q", s.Role)
}

// childToFile writes what tc brings to a new file in dir, acknowledges
// the last write with one byte, then removes the file.
func childToFile(tc *net.TCPConn, dir string) error {
	f, err := os.CreateTemp(dir, "sluice-floor-*.data")
	if err != nil {
		return fmt.Errorf("bench: floor: cannot create file in %q: %w", dir, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := pipeToFile(tc, f); err != nil {
		return err
	}
	if _, err := tc.Write([]byte{1}); err != nil {
		return fmt.Errorf("bench: floor: ack: %w", err)
	}
	return nil
}

// startFloorChild starts this binary as a floor child and accepts its
// conns connections.
func startFloorChild(ctx context.Context, spec floorChildSpec) (*exec.Cmd, *bytes.Buffer, []*net.TCPConn, error) {
	ln, err := listenFloor()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("bench: floor: cannot listen: %w", err)
	}
	defer ln.Close()
	spec.Addr = ln.Addr().String()
	js, _ := json.Marshal(spec)
	self, err := os.Executable()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("bench: floor: cannot find this binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), floorChildEnv+"="+string(js))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("bench: floor: cannot start the child: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		select { // a child that dies before connecting must not leave Accept waiting
		case <-exited:
		case <-time.After(30 * time.Second):
		}
		ln.Close()
	}()
	defer close(exited)
	conns := make([]*net.TCPConn, 0, spec.Conns)
	for len(conns) < spec.Conns {
		c, err := ln.Accept()
		if err != nil {
			closeAll(conns)
			cmd.Process.Kill()
			cmd.Wait()
			return nil, nil, nil, fmt.Errorf("bench: floor: the child did not connect: %w (%s)", err, stderr.String())
		}
		conns = append(conns, c.(*net.TCPConn))
	}
	return cmd, &stderr, conns, nil
}

func closeAll(conns []*net.TCPConn) {
	for _, c := range conns {
		c.Close()
	}
}

// finishChild closes the connections and waits for the child.
func finishChild(cmd *exec.Cmd, stderr *bytes.Buffer, conns []*net.TCPConn) error {
	closeAll(conns)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("bench: floor child: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// floorToFileTwoProcs: this process sends, the child writes to files.
func floorToFileTwoProcs(ctx context.Context, dir string, total int64, conns int) (*Floor, error) {
	share := total / int64(conns)
	cmd, stderr, cs, err := startFloorChild(ctx, floorChildSpec{Role: "to-file", Conns: conns, Dir: dir})
	if err != nil {
		return nil, err
	}
	chunk := make([]byte, floorChunk)
	fillRandom(chunk, 1)
	start := time.Now()
	end, errs := eachConn(start, cs, func(c *net.TCPConn) error {
		if err := sendChunksOn(ctx, c, chunk, share); err != nil {
			return err
		}
		var ack [1]byte
		if _, err := io.ReadFull(c, ack[:]); err != nil {
			return fmt.Errorf("bench: floor: no ack from the child: %w", err)
		}
		return nil
	})
	errs = append(errs, finishChild(cmd, stderr, cs))
	f := floorResult("tcp-to-file", share*int64(conns), end.Sub(start))
	f.Measures = fmt.Sprintf("%d loopback TCP connection(s) from this process, written in 1 MiB chunks "+
		"into page-cache files (no fsync) by a second process, as a broker's appends", conns)
	return f, errors.Join(errs...)
}

// floorSendfileTwoProcs: the child sends path with sendfile(2), this
// process reads and discards.
func floorSendfileTwoProcs(ctx context.Context, path string, share int64, conns, readSize int) (*Floor, error) {
	cmd, stderr, cs, err := startFloorChild(ctx, floorChildSpec{Role: "sendfile", Conns: conns, Path: path, Bytes: share})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	end, errs := eachConn(start, cs, func(c *net.TCPConn) error {
		if _, err := c.Write([]byte{1}); err != nil {
			return fmt.Errorf("bench: floor: start: %w", err)
		}
		buf := make([]byte, readSize)
		for {
			_, err := c.Read(buf)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("bench: floor: receive: %w", err)
			}
		}
	})
	errs = append(errs, finishChild(cmd, stderr, cs))
	f := floorResult("sendfile", share*int64(conns), end.Sub(start))
	f.Measures = fmt.Sprintf("sendfile(2) of a page-cached, fsync'd %d MiB file by a second process over %d loopback "+
		"connection(s), read in %d-byte chunks by this process, as a broker's fetches", min(floorFileSize, share)>>20, conns, readSize)
	return f, errors.Join(errs...)
}

// eachConn runs fn on every connection at once and returns when all are
// done: the latest time one finished successfully (start if none did) and
// each connection's error.
func eachConn(start time.Time, cs []*net.TCPConn, fn func(*net.TCPConn) error) (time.Time, []error) {
	ends := make([]time.Time, len(cs))
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			if errs[i] = fn(c); errs[i] == nil {
				ends[i] = time.Now()
			}
		})
	}
	wg.Wait()
	end := start
	for _, e := range ends {
		end = later(end, e)
	}
	return end, errs
}
