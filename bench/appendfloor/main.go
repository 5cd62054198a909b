// Command appendfloor measures the kernel's floor for the 1,000 × 1 KiB
// produce row: small appends round-robin over many files, the CPU they
// cost per call and per GB, written with pwritev (one syscall per write)
// or through io_uring (one io_uring_enter per --batch writes).
//
//	go run ./bench/appendfloor --dir /work/tmp/floor --mode pwritev
//	go run ./bench/appendfloor --dir /work/tmp/floor --mode uring --batch 1000
//	go run ./bench/appendfloor --dir /work/tmp/floor --files 16 --size 40000 --pad
//
// --pad (pwritev only) writes zeros after each write up to the next page
// boundary, and the next write to the file starts where the records
// ended, over those zeros: every write then leaves its last page whole.
// It measures what a write that ends mid-page costs the kernel; the
// zeros are not counted as bytes written. --writeback starts the
// kernel's writeback of each file's whole pages every so many bytes from
// the writing thread, as the broker's appender does (sync_file_range).
//
// The files are created (and the directory emptied) before the clock
// starts, so the figures are the writes alone. CPU is the process's
// (getrusage, every thread, io_uring's io-wq workers included) and the
// whole machine's busy time from /proc/stat (what moved to kernel threads
// outside the process shows there).
//
// --call cuts each write into pwritev calls of at most so many bytes, and
// --sync fdatasyncs a file after every so many bytes written to it: the
// shape of fsync=always under large rounds (docs/BENCHMARKS.md, "appends
// in calls of at most 2 MiB"):
//
//	go run ./bench/appendfloor --dir D --files 16 --size 1048637 --records 16 --total 3G --sync 16M
//	go run ./bench/appendfloor --dir D --files 16 --size 1048637 --records 16 --total 3G --sync 16M --call 2M
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/bench"
	"github.com/sluice/sluice/internal/vfs"
)

func main() {
	dir := flag.String("dir", "", "directory for the files (made empty first)")
	files := flag.Int("files", 1000, "files written round-robin")
	size := flag.Int("size", 1024, "bytes per record")
	per := flag.Int("records", 1, "records per write (one iovec each)")
	totalArg := flag.String("total", "256M", "bytes written in all (suffixes K, M, G: powers of 1024)")
	callArg := flag.String("call", "0", "pwritev: the most bytes per call, a write cut into calls of this many (suffixes K, M, G); 0: one call per write")
	syncArg := flag.String("sync", "0", "pwritev: fdatasync a file after every this many bytes written to it (suffixes K, M, G); 0: never")
	mode := flag.String("mode", "pwritev", "pwritev or uring")
	batch := flag.Int("batch", 1000, "uring: writes per io_uring_enter")
	pad := flag.Bool("pad", false, "pwritev: pad each write with zeros to the next 4 KiB boundary")
	writeback := flag.Int64("writeback", 0, "pwritev: every this many bytes of a file, start writeback of its whole pages written so far (sync_file_range SYNC_FILE_RANGE_WRITE, as segment.File does every 1 MiB); 0: leave it to the kernel")
	flag.Parse()
	total, callMax, syncEvery := byteFlag("total", *totalArg), byteFlag("call", *callArg), byteFlag("sync", *syncArg)
	if (*pad || callMax > 0 || syncEvery > 0) && *mode != "pwritev" {
		log.Fatal("--pad, --call and --sync are for --mode pwritev")
	}
	if *pad && callMax > 0 {
		log.Fatal("--pad and --call do not go together")
	}
	if *dir == "" {
		log.Fatal("--dir is required")
	}
	runtime.LockOSThread()
	if err := os.RemoveAll(*dir); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	fds := make([]int, *files)
	for i := range fds {
		fd, err := unix.Open(filepath.Join(*dir, fmt.Sprintf("%05d.log", i)), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		fds[i] = fd
	}
	offs := make([]int64, *files)
	wb := make([]int64, *files) // writeback started below this
	rec := make([]byte, *size)
	for i := range rec {
		rec[i] = byte(i)
	}
	iov := make([]unix.Iovec, *per, *per+1)
	for i := range iov {
		iov[i].Base = &rec[0]
		iov[i].SetLen(*size)
	}
	zeros := make([]byte, pageSize)
	wbytes := int64(*size * *per)
	writes := total / wbytes
	split := splitCalls(iov, callMax)
	var one [1][]unix.Iovec // a write in one call
	synced := make([]int64, *files)

	time.Sleep(200 * time.Millisecond)
	u0, s0 := rusage()
	b0, t0 := procStat()
	start := time.Now()
	switch *mode {
	case "pwritev":
		for w := int64(0); w < writes; w++ {
			f := int(w % int64(*files))
			v, want := iov, wbytes
			if z := (pageSize - (offs[f]+wbytes)%pageSize) % pageSize; *pad && z > 0 {
				v = append(iov, unix.Iovec{Base: &zeros[0]})
				v[len(v)-1].SetLen(int(z))
				want += z
			}
			calls := split
			if calls == nil {
				one[0] = v
				calls = one[:]
			}
			for off, i := offs[f], 0; i < len(calls); i++ {
				c := calls[i]
				n, _, errno := unix.Syscall6(unix.SYS_PWRITEV, uintptr(fds[f]), uintptr(unsafe.Pointer(&c[0])), uintptr(len(c)), uintptr(off), 0, 0)
				if errno != 0 || int64(n) != vfs.IovecLen(c) {
					log.Fatalf("pwritev: %d of %d bytes, %v", n, want, errno)
				}
				off += int64(n)
			}
			offs[f] += wbytes
			if syncEvery > 0 && offs[f]-synced[f] >= syncEvery {
				if err := unix.Fdatasync(fds[f]); err != nil {
					log.Fatalf("fdatasync: %v", err)
				}
				synced[f] = offs[f]
			}
			if upto := offs[f] &^ (pageSize - 1); *writeback > 0 && upto-wb[f] >= *writeback {
				if err := unix.SyncFileRange(fds[f], wb[f], upto-wb[f], unix.SYNC_FILE_RANGE_WRITE); err != nil {
					log.Fatalf("sync_file_range: %v", err)
				}
				wb[f] = upto
			}
		}
	case "uring":
		r, err := newRing(uint32(*batch))
		if err != nil {
			log.Fatal(err)
		}
		for w := int64(0); w < writes; {
			n := min(int64(*batch), writes-w)
			for i := int64(0); i < n; i++ {
				f := int((w + i) % int64(*files))
				r.writev(fds[f], iov, offs[f], uint64(f))
				offs[f] += wbytes
			}
			if err := r.submitAndWait(uint32(n)); err != nil {
				log.Fatal(err)
			}
			if err := r.reap(uint32(n), wbytes); err != nil {
				log.Fatal(err)
			}
			w += n
		}
	default:
		log.Fatalf("unknown mode %q", *mode)
	}
	wall := time.Since(start)
	u1, s1 := rusage()
	b1, t1 := procStat()
	cpu := (u1 - u0) + (s1 - s0)
	gb := float64(writes*wbytes) / (1 << 30)
	ticks := float64(b1 - b0)
	if *pad {
		*mode += "+pad"
	}
	if *writeback > 0 {
		*mode += fmt.Sprintf("+writeback%d", *writeback)
	}
	if callMax > 0 {
		*mode += fmt.Sprintf("+call%d", callMax)
	}
	if syncEvery > 0 {
		*mode += fmt.Sprintf("+sync%d", syncEvery)
	}
	fmt.Printf("mode=%s files=%d bytes/write=%d writes=%d wall=%.2fs user=%.2fs sys=%.2fs cpu-s/GB=%.2f us/write=%.2f machine-busy-s/GB=%.2f (machine %.0f%% busy)\n",
		*mode, *files, wbytes, writes, wall.Seconds(), u1-u0, s1-s0, cpu/gb, cpu/float64(writes)*1e6,
		ticks/100/gb, 100*ticks/float64(t1-t0))
	for _, fd := range fds {
		unix.Close(fd)
	}
}

const pageSize = 4096

// byteFlag is the byte count of flag name's value s (bench.ParseBytes).
func byteFlag(name, s string) int64 {
	n, err := bench.ParseBytes(s)
	if err != nil {
		log.Fatalf("--%s: %v", name, err)
	}
	return n
}

// splitCalls cuts the buffers of one write into pwritev calls of at most
// max bytes each, a buffer cut where a call's bytes run out; nil when
// max is 0 or the write fits in one call.
func splitCalls(v []unix.Iovec, max int64) [][]unix.Iovec {
	if max <= 0 || vfs.IovecLen(v) <= max {
		return nil
	}
	var calls [][]unix.Iovec
	var cur []unix.Iovec
	room := max
	for _, b := range v {
		base, left := unsafe.Pointer(b.Base), int64(b.Len)
		for left > 0 {
			n := min(left, room)
			piece := unix.Iovec{Base: (*byte)(base)}
			piece.SetLen(int(n))
			cur = append(cur, piece)
			base, left, room = unsafe.Add(base, n), left-n, room-n
			if room == 0 {
				calls, cur, room = append(calls, cur), nil, max
			}
		}
	}
	if len(cur) > 0 {
		calls = append(calls, cur)
	}
	return calls
}

func rusage() (user, sys float64) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return float64(ru.Utime.Nano()) / 1e9, float64(ru.Stime.Nano()) / 1e9
}

// procStat is the machine's busy and total ticks (USER_HZ) from /proc/stat.
func procStat() (busy, total uint64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	fields := strings.Fields(sc.Text())[1:]
	for i, s := range fields {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// ring is a minimal io_uring (the kernel ABI of io_uring_setup(2)): one
// submission and one completion queue, mapped once.
type ring struct {
	fd                   int
	sqHead, sqTail       *uint32
	sqMask               uint32
	sqArray              []uint32
	sqes                 []sqe
	cqHead, cqTail       *uint32
	cqMask               uint32
	cqes                 []cqe
	tail                 uint32
	iovs                 [][]unix.Iovec
	sqRing, cqRing, sqeM []byte
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
	RwFlags     uint32
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
	sysIoUringSetup  = 425
	sysIoUringEnter  = 426
	opWritev         = 2
	enterGetEvents   = 1
	offSQRing        = 0
	offCQRing        = 0x8000000
	offSQEs          = 0x10000000
	featSingleMmap   = 1
	sqeSize, cqeSize = 64, 16
)

func newRing(entries uint32) (*ring, error) {
	var p params
	fd, _, errno := unix.Syscall(sysIoUringSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &ring{fd: int(fd)}
	sqSize := int(p.SqOff.Array + p.SqEntries*4)
	cqSize := int(p.CqOff.Cqes + p.CqEntries*cqeSize)
	var err error
	if p.Features&featSingleMmap != 0 {
		sqSize = max(sqSize, cqSize)
	}
	if r.sqRing, err = unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return nil, fmt.Errorf("mmap sq ring: %w", err)
	}
	r.cqRing = r.sqRing
	if p.Features&featSingleMmap == 0 {
		if r.cqRing, err = unix.Mmap(r.fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
			return nil, fmt.Errorf("mmap cq ring: %w", err)
		}
	}
	if r.sqeM, err = unix.Mmap(r.fd, offSQEs, int(p.SqEntries*sqeSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return nil, fmt.Errorf("mmap sqes: %w", err)
	}
	at := func(b []byte, off uint32) unsafe.Pointer { return unsafe.Pointer(&b[off]) }
	r.sqHead = (*uint32)(at(r.sqRing, p.SqOff.Head))
	r.sqTail = (*uint32)(at(r.sqRing, p.SqOff.Tail))
	r.sqMask = *(*uint32)(at(r.sqRing, p.SqOff.RingMask))
	r.sqArray = unsafe.Slice((*uint32)(at(r.sqRing, p.SqOff.Array)), p.SqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeM[0])), p.SqEntries)
	r.cqHead = (*uint32)(at(r.cqRing, p.CqOff.Head))
	r.cqTail = (*uint32)(at(r.cqRing, p.CqOff.Tail))
	r.cqMask = *(*uint32)(at(r.cqRing, p.CqOff.RingMask))
	r.cqes = unsafe.Slice((*cqe)(at(r.cqRing, p.CqOff.Cqes)), p.CqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	r.iovs = make([][]unix.Iovec, p.SqEntries)
	return r, nil
}

// writev queues one IORING_OP_WRITEV (the iovecs must stay put until it
// completes: they are kept in r.iovs).
func (r *ring) writev(fd int, iov []unix.Iovec, off int64, user uint64) {
	idx := r.tail & r.sqMask
	r.iovs[idx] = iov
	r.sqes[idx] = sqe{Opcode: opWritev, Fd: int32(fd), Off: uint64(off), Addr: uint64(uintptr(unsafe.Pointer(&iov[0]))),
		Len: uint32(len(iov)), UserData: user}
	r.sqArray[idx] = idx
	r.tail++
}

func (r *ring) submitAndWait(n uint32) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	for {
		_, _, errno := unix.Syscall6(sysIoUringEnter, uintptr(r.fd), uintptr(n), uintptr(n), enterGetEvents, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
		return nil
	}
}

func (r *ring) reap(n uint32, want int64) error {
	head := atomic.LoadUint32(r.cqHead)
	for got := uint32(0); got < n; {
		tail := atomic.LoadUint32(r.cqTail)
		if head == tail {
			if _, _, errno := unix.Syscall6(sysIoUringEnter, uintptr(r.fd), 0, uintptr(n-got), enterGetEvents, 0, 0); errno != 0 && errno != syscall.EINTR {
				return fmt.Errorf("io_uring_enter wait: %w", errno)
			}
			continue
		}
		for ; head != tail; head++ {
			c := r.cqes[head&r.cqMask]
			if int64(c.Res) != want {
				return fmt.Errorf("write to file %d: result %d", c.UserData, c.Res)
			}
			got++
		}
		atomic.StoreUint32(r.cqHead, head)
	}
	return nil
}
