// Command tcpfloor measures the kernel's floor for a produce row's shape:
// what it costs a receiving process, at the least, to read requests from
// one loopback TCP connection and copy each request's per-partition slices
// into their own page-cache files, with nothing of a broker around it (no
// parsing, no CRC, no index, no event loop: one locked thread doing
// blocking read, pwrite and write system calls).
//
//	go run ./bench/tcpfloor --dir /work/tmp/tf --files 16 --write-size 40960   # 16 × 100 B's shape
//	go run ./bench/tcpfloor --dir /work/tmp/tf --files 16 --write-size 294912  # 16 × 1 KiB's
//
// A child process (this binary with --send) writes frames of a 4-byte
// big-endian length and files × write-size bytes as fast as the receiver
// takes them, as one producer connection does. The receiver reads each
// frame whole (the length, then the rest, as many reads as the socket
// needs), writes slice i to file i at its end, and answers --response
// bytes, as a broker answers each Produce request.
//
// With --conns N it measures the floor of many connections with small
// requests instead (the matrix's conns-100 row; conns.go): N connections,
// --inflight frames of --write-size bytes in flight on each, every frame
// written whole to the next of --files files, and CPU per request:
//
//	go run ./bench/tcpfloor --dir /work/tmp/tf --conns 100 --files 16 --write-size 640 --total 67108864
//
// CPU is the receiver's (getrusage RUSAGE_SELF, every thread) over the
// run, per GB (2^30 bytes) received; the sender's is given apart. The files
// are created before the clock starts. A broker doing this work also
// parses and checks what it reads, so its CPU per GB can only be above
// this floor, and any two brokers that both read the socket and write
// each partition's batch with one call share it.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// jsonOut: --json.
var jsonOut bool

func main() {
	dir := flag.String("dir", "", "directory for the files (receiver)")
	files := flag.Int("files", 16, "files (partitions) each frame is split over")
	writeSize := flag.Int("write-size", 40960, "bytes of each frame per file: one pwrite each")
	total := flag.Int64("total", 512<<20, "bytes to send in all (rounded down to whole frames)")
	response := flag.Int("response", 64, "bytes answered per frame")
	send := flag.String("send", "", "internal: be the sender, connecting to this address")
	conns := flag.Int("conns", 0, "many-connection mode: this many connections, each frame of --write-size bytes written whole to the next of --files files (0: one connection, each frame split over the files)")
	inflight := flag.Int("inflight", 4, "--conns: frames unanswered per connection")
	combine := flag.Bool("combine", false, "--conns: one pwritev per file for the frames of each epoll_wait round")
	flag.BoolVar(&jsonOut, "json", false, "print the figures as one JSON object")
	flag.Parse()
	if *conns > 0 {
		requests := *total / int64(max(*writeSize, 1))
		if *writeSize <= 0 || requests < int64(*conns) || *inflight <= 0 {
			log.Fatal("tcpfloor: --conns needs a positive --write-size and --inflight, and --total of at least one frame per connection")
		}
		var err error
		if *send != "" {
			err = sendConns(*send, *conns, *inflight, *writeSize, requests, *response)
		} else if *dir == "" {
			log.Fatal("tcpfloor: --dir is required")
		} else {
			err = receiveConns(*dir, *files, *conns, *writeSize, *inflight, *response, requests, *combine)
		}
		if err != nil {
			log.Fatalf("tcpfloor: %v", err)
		}
		return
	}
	frame := *files * *writeSize
	if frame <= 0 || *total < int64(frame) {
		log.Fatal("tcpfloor: --files × --write-size must be positive and at most --total")
	}
	frames := *total / int64(frame)
	if *send != "" {
		if err := sender(*send, frame, frames, *response); err != nil {
			log.Fatalf("tcpfloor sender: %v", err)
		}
		return
	}
	if *dir == "" {
		log.Fatal("tcpfloor: --dir is required")
	}
	if err := receive(*dir, *files, *writeSize, frames, *response); err != nil {
		log.Fatalf("tcpfloor: %v", err)
	}
}

// receive runs the sender as a child and measures the receiving side.
func receive(dir string, files, writeSize int, frames int64, response int) error {
	fds, ln, child, cleanup, err := start(dir, files, "--files", strconv.Itoa(files),
		"--write-size", strconv.Itoa(writeSize), "--total", strconv.FormatInt(frames*int64(files*writeSize), 10),
		"--response", strconv.Itoa(response))
	if err != nil {
		return err
	}
	defer cleanup()
	offs := make([]int64, files)
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	f, err := c.(*net.TCPConn).File() // a blocking duplicate of the socket
	c.Close()
	if err != nil {
		return err
	}
	defer f.Close()
	sock := int(f.Fd())
	runtime.LockOSThread()

	buf := make([]byte, files*writeSize)
	resp := make([]byte, max(response, 0))
	var hdr [4]byte
	var reads int64
	readFull := func(b []byte) error {
		for len(b) > 0 {
			n, err := unix.Read(sock, b)
			reads++
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return io.ErrUnexpectedEOF
			}
			b = b[n:]
		}
		return nil
	}
	var ru0, ru1 syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru0); err != nil {
		return err
	}
	t0 := time.Now()
	for range frames {
		if err := readFull(hdr[:]); err != nil {
			return fmt.Errorf("reading a frame's length: %w", err)
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n != len(buf) {
			return fmt.Errorf("frame of %d bytes, want %d", n, len(buf))
		}
		if err := readFull(buf); err != nil {
			return fmt.Errorf("reading a frame: %w", err)
		}
		for i, fd := range fds {
			p := buf[i*writeSize : (i+1)*writeSize]
			if _, err := unix.Pwrite(fd, p, offs[i]); err != nil {
				return fmt.Errorf("pwrite: %w", err)
			}
			offs[i] += int64(writeSize)
		}
		if len(resp) > 0 {
			if _, err := unix.Write(sock, resp); err != nil {
				return fmt.Errorf("writing a response: %w", err)
			}
		}
	}
	wall := time.Since(t0)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru1); err != nil {
		return err
	}
	if err := child.Wait(); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	bytes := float64(frames) * float64(files*writeSize)
	gb := bytes / (1 << 30)
	user := secs(ru1.Utime) - secs(ru0.Utime)
	sys := secs(ru1.Stime) - secs(ru0.Stime)
	su := child.ProcessState.SysUsage().(*syscall.Rusage)
	mbps, cpuGB := bytes/(1<<20)/wall.Seconds(), (user+sys)/gb
	readsPer, senderGB := float64(reads)/float64(frames), (secs(su.Utime)+secs(su.Stime))/gb
	emit(fmt.Sprintf("files=%d write-size=%d frame=%d frames=%d MB/s=%.1f receiver cpu-s/GB=%.3f (user %.2f s, sys %.2f s) us/frame=%.1f reads/frame=%.2f sender cpu-s/GB=%.3f",
		files, writeSize, files*writeSize, frames, mbps, cpuGB, user, sys,
		(user+sys)/float64(frames)*1e6, readsPer, senderGB),
		map[string]float64{"mb_per_s": mbps, "cpu_s_per_gb": cpuGB, "user_s": user, "sys_s": sys,
			"reads_per_frame": readsPer, "sender_cpu_s_per_gb": senderGB})
	return nil
}

// receiverHost is the loopback address the receiver listens on. Not
// 127.0.0.1: a client elsewhere redialling a stopped broker's port (a
// test, a Raft transport) may reach a listener on port 0 there, and the
// receiver takes the first connections as its senders'. All of 127/8 is
// loopback on Linux.
const receiverHost = "127.77.0.2"

// start creates the receiver's files in dir, listens on loopback and
// starts this binary as the sender child (--send and the listener's
// address, then args). cleanup closes the files and the listener, and
// kills the sender unless the run waited for it.
func start(dir string, files int, args ...string) (fds []int, ln net.Listener, child *exec.Cmd, cleanup func(), err error) {
	// The undo steps capture their own variables: an error return sets the
	// named results to nil before the deferred undoing runs.
	var undo []func()
	undoAll := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			undoAll()
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, nil, nil, err
	}
	fds = make([]int, files)
	for i := range fds {
		fd, err := unix.Open(filepath.Join(dir, fmt.Sprintf("f%d-%d", os.Getpid(), i)), unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("cannot create file %d: %w", i, err)
		}
		undo = append(undo, func() { unix.Close(fd) })
		fds[i] = fd
	}
	l, err := net.Listen("tcp", receiverHost+":0")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	undo = append(undo, func() { l.Close() })
	cmd := exec.Command(os.Args[0], append([]string{"--send", l.Addr().String()}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("cannot start the sender: %w", err)
	}
	undo = append(undo, func() {
		if cmd.ProcessState == nil { // a failed run leaves no sender behind
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return fds, l, cmd, undoAll, nil
}

// emit prints a run's figures: the text line, or with --json one JSON
// object of them (bench/peers' compare reads it).
func emit(text string, figures map[string]float64) {
	if !jsonOut {
		fmt.Println(text)
		return
	}
	b, err := json.Marshal(figures)
	if err != nil {
		log.Fatalf("tcpfloor: %v", err)
	}
	fmt.Println(string(b))
}

func secs(t syscall.Timeval) float64 { return float64(t.Nano()) / 1e9 }

// frameBytes is the frame every sender writes: its 4-byte big-endian
// length, then bytes whose value is their index in the frame (mod 256).
func frameBytes(frame int) []byte {
	buf := make([]byte, 4+frame)
	binary.BigEndian.PutUint32(buf, uint32(frame))
	for i := 4; i < len(buf); i++ {
		buf[i] = byte(i)
	}
	return buf
}

// sender writes frames as fast as the receiver takes them and drains the
// responses.
func sender(addr string, frame int, frames int64, response int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, c, frames*int64(max(response, 0)))
		done <- err
	}()
	buf := frameBytes(frame)
	for range frames {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
	return <-done
}
