// Package uring issues fdatasync(2) through an io_uring, so that a
// goroutine waiting for the disk is parked like one waiting for a socket:
// it holds no OS thread and no P (a Go processor) while the kernel writes.
//
// Why: fdatasync as a system call blocks the calling thread for the whole
// write and cache flush (milliseconds), and the Go runtime's P stays with
// that thread until its monitor (sysmon) notices and hands the P to another
// thread; when the call returns, the thread must find a P again. A broker
// under fsync=always makes one such call per partition per round, so on two
// cores a fifth of its CPU went to sysmon, the hand-offs and the thread
// switches they cause (docs/BENCHMARKS.md, "fsync through io_uring").
// Here the call is queued on a ring, and the kernel runs it on one of its
// io-wq worker threads (threads of this process: their CPU is the
// process's). The caller waits on a channel; one goroutine reads the ring's
// eventfd through Go's netpoller and hands each completion to its waiter.
//
// The ring, as the kernel lays it out (io_uring_setup(2)), mapped once:
//
//	submission ring   head tail mask entries flags dropped | array[entries] (indexes into sqes)
//	sqes              [entries] × 64 B: opcode=IORING_OP_FSYNC, fd, fsync_flags=DATASYNC, user_data=slot
//	completion ring   head tail mask entries overflow | cqes[2×entries] × 16 B: user_data, res, flags
//
// user_data is a slot, one per call in flight; at most as many calls are in
// flight as the submission ring has entries, so neither ring can overflow.
// A call's result is fdatasync's: 0, or -errno (EIO for a failed writeback,
// reported once per open file description as fdatasync reports it).
package uring

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring is an io_uring for fdatasync calls, safe for concurrent use.
type Ring struct {
	fd int

	mu   sync.Mutex // serialises filling sqes and moving the submission tail
	tail uint32     // the next submission slot (under mu)

	sqTail  *uint32
	sqMask  uint32
	sqArray []uint32
	sqes    []sqe
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    []cqe

	free  chan uint32    // slots not in flight
	done  []chan int32   // per slot: the call's result
	efd   *os.File       // the ring's eventfd, read through the netpoller
	maps  [][]byte       // the rings' mappings, unmapped by Close
	close atomic.Bool    // Close ran
	wg    sync.WaitGroup // the completion reader
}

type sqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type cqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

type params struct {
	SqEntries, CqEntries, Flags, SqThreadCPU, SqThreadIdle, Features, WqFd uint32
	Resv                                                                   [3]uint32
	SqOff                                                                  sqringOffsets
	CqOff                                                                  cqringOffsets
}

type sqe struct {
	Opcode      uint8
	Flags       uint8
	Ioprio      uint16
	Fd          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	OpFlags     uint32
	UserData    uint64
	BufIndex    uint16
	Personality uint16
	SpliceFdIn  int32
	Addr3       uint64
	Pad         uint64
}

type cqe struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

const (
	sysSetup         = 425
	sysEnter         = 426
	sysRegister      = 427
	opFsync          = 3
	fsyncDatasync    = 1
	registerEventfd  = 4
	offSQRing        = 0
	offCQRing        = 0x8000000
	offSQEs          = 0x10000000
	featSingleMmap   = 1
	featNoDrop       = 1 << 1
	sqeSize, cqeSize = 64, 16
)

// Open sets up a ring for entries calls in flight at once (a power of
// two, at most 4096).
func Open(entries uint32) (*Ring, error) {
	var p params
	fd, _, errno := unix.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("uring: io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd)}
	if err := r.mapRings(&p); err != nil {
		r.unmap()
		unix.Close(r.fd)
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		r.unmap()
		unix.Close(r.fd)
		return nil, fmt.Errorf("uring: eventfd: %w", err)
	}
	e := int32(efd)
	if _, _, errno := unix.Syscall6(sysRegister, uintptr(r.fd), registerEventfd, uintptr(unsafe.Pointer(&e)), 1, 0, 0); errno != 0 {
		unix.Close(efd)
		r.unmap()
		unix.Close(r.fd)
		return nil, fmt.Errorf("uring: register eventfd: %w", errno)
	}
	r.efd = os.NewFile(uintptr(efd), "io_uring eventfd") // non-blocking: read through the netpoller
	n := len(r.sqes)
	r.free = make(chan uint32, n)
	r.done = make([]chan int32, n)
	for i := range n {
		r.done[i] = make(chan int32, 1)
		r.free <- uint32(i)
	}
	r.wg.Add(1)
	go r.complete()
	return r, nil
}

func (r *Ring) mapRings(p *params) error {
	sqSize := int(p.SqOff.Array + p.SqEntries*4)
	cqSize := int(p.CqOff.Cqes + p.CqEntries*cqeSize)
	if p.Features&featSingleMmap != 0 {
		sqSize = max(sqSize, cqSize)
	}
	sq, err := unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("uring: map the submission ring: %w", err)
	}
	r.maps = append(r.maps, sq)
	cq := sq
	if p.Features&featSingleMmap == 0 {
		if cq, err = unix.Mmap(r.fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
			return fmt.Errorf("uring: map the completion ring: %w", err)
		}
		r.maps = append(r.maps, cq)
	}
	sqes, err := unix.Mmap(r.fd, offSQEs, int(p.SqEntries*sqeSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("uring: map the submission entries: %w", err)
	}
	r.maps = append(r.maps, sqes)
	at := func(b []byte, off uint32) unsafe.Pointer { return unsafe.Pointer(&b[off]) }
	r.sqTail = (*uint32)(at(sq, p.SqOff.Tail))
	r.sqMask = *(*uint32)(at(sq, p.SqOff.RingMask))
	r.sqArray = unsafe.Slice((*uint32)(at(sq, p.SqOff.Array)), p.SqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&sqes[0])), p.SqEntries)
	r.cqHead = (*uint32)(at(cq, p.CqOff.Head))
	r.cqTail = (*uint32)(at(cq, p.CqOff.Tail))
	r.cqMask = *(*uint32)(at(cq, p.CqOff.RingMask))
	r.cqes = unsafe.Slice((*cqe)(at(cq, p.CqOff.Cqes)), p.CqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	return nil
}

func (r *Ring) unmap() {
	for _, m := range r.maps {
		_ = unix.Munmap(m)
	}
	r.maps = nil
}

// ErrClosed is returned by Fdatasync on a closed Ring.
var ErrClosed = errors.New("uring: ring closed")

// Fdatasync is fdatasync(fd): it returns when the kernel has written the
// file's data and size to stable storage, or its error (a syscall.Errno).
// The caller keeps fd open until it returns.
func (r *Ring) Fdatasync(fd int) error {
	if r.close.Load() {
		return ErrClosed
	}
	slot := <-r.free
	r.mu.Lock()
	i := r.tail & r.sqMask
	r.sqes[i] = sqe{Opcode: opFsync, Fd: int32(fd), OpFlags: fsyncDatasync, UserData: uint64(slot)}
	r.sqArray[i] = i
	r.tail++
	atomic.StoreUint32(r.sqTail, r.tail)
	r.mu.Unlock()
	// One enter per entry queued: whichever caller's enter takes which
	// entry, every entry is submitted by one of them.
	for {
		_, _, errno := unix.Syscall6(sysEnter, uintptr(r.fd), 1, 0, 0, 0, 0)
		if errno == 0 {
			break
		}
		if errno == syscall.EINTR || errno == syscall.EAGAIN || errno == syscall.EBUSY {
			runtime.Gosched()
			continue
		}
		// The entry stays queued: a later enter submits it, and its
		// completion frees the slot. This call reports the failure.
		return fmt.Errorf("uring: io_uring_enter: %w", errno)
	}
	res := <-r.done[slot]
	r.free <- slot
	if res < 0 {
		return syscall.Errno(-res)
	}
	return nil
}

// complete hands each completion to its caller, woken by the eventfd.
func (r *Ring) complete() {
	defer r.wg.Done()
	var buf [8]byte
	for {
		r.drain()
		if _, err := r.efd.Read(buf[:]); err != nil {
			return // closed
		}
	}
}

func (r *Ring) drain() {
	head := atomic.LoadUint32(r.cqHead)
	for {
		tail := atomic.LoadUint32(r.cqTail)
		if head == tail {
			return
		}
		for ; head != tail; head++ {
			c := r.cqes[head&r.cqMask]
			r.done[c.UserData] <- c.Res
		}
		atomic.StoreUint32(r.cqHead, head)
	}
}

// Close stops the ring once no call is in flight.
func (r *Ring) Close() error {
	if r.close.Swap(true) {
		return nil
	}
	for range cap(r.free) {
		<-r.free // wait for the calls in flight
	}
	err := r.efd.Close()
	r.wg.Wait()
	r.unmap()
	return errors.Join(err, unix.Close(r.fd))
}
