// Command syncfloor measures what an fsync=always append costs the kernel
// by how the file's blocks stand when it is written: --jobs writers, each
// appending --write bytes to a file of its own and fdatasyncing it after
// every write, as a partition's round does under fsync=always (16
// partitions; a round of ~2 requests of 16 KiB):
//
//	go run ./bench/syncfloor --dir /tmp/x/s --layout grow     # the file grows with each write (sluiced today)
//	go run ./bench/syncfloor --dir /tmp/x/s --layout zeroed   # written over zeros already on disk
//	go run ./bench/syncfloor --dir /tmp/x/s --layout falloc   # written into fallocated (unwritten) blocks
//	go run ./bench/syncfloor --dir /tmp/x/s --layout sparse   # i_size set, no blocks (Kafka's file.preallocate)
//	go run ./bench/syncfloor --dir /tmp/x/s --layout ahead    # zeros written --ahead bytes ahead, in the run
//	go run ./bench/syncfloor --dir /tmp/x/s --layout behind   # zeros written ahead by a goroutine of their own
//
// Each file's layout on disk before the clock starts:
//
//	grow    empty; every write extends it: i_size and the extent tree
//	        change, so each fdatasync also writes the inode (and on ext4
//	        without a journal its extent block) besides the data
//	zeroed  --writes × --write bytes of zeros, written and fsync'd: every
//	        write lands inside i_size on blocks already written, so an
//	        fdatasync writes the data pages and nothing else
//	falloc  fallocate(0, size): i_size is the full size, blocks reserved
//	        but unwritten; each write converts its range to written,
//	        which changes the extent tree
//	sparse  ftruncate(size): i_size is the full size, no block
//	        allocated (what Kafka's file.preallocate=true does with
//	        RandomAccessFile.setLength); each write allocates its blocks
//	ahead   empty, as grow; a writer that would pass the zeros' end
//	        writes --ahead bytes of zeros there first (not fsync'd on
//	        their own: the next fdatasync writes them), so the zeros'
//	        cost is in the figures
//	behind  empty, as grow; a second goroutine per file keeps zeros,
//	        written and fdatasync'd --ahead bytes at a time, up to two
//	        chunks ahead of the writer, which waits for them only when it
//	        catches up: the zeros' CPU is in the figures, their
//	        writeback off the writer's fdatasync
//
// CPU is the process's (getrusage, every thread); wall time from the
// first write to the last fdatasync's return. The layouts other than
// grow leave the file longer than what was appended, as a log segment
// preallocated that way would be until it is trimmed: recovery would
// then have to find the log's end by reading its batches.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

func cpu() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func main() {
	dir := flag.String("dir", "", "directory for the files (made empty first)")
	layout := flag.String("layout", "grow", "grow, zeroed, falloc, sparse, ahead or behind")
	jobs := flag.Int("jobs", 16, "writers, a file each")
	write := flag.Int("write", 32<<10, "bytes per write (each followed by fdatasync)")
	writes := flag.Int("writes", 500, "writes per writer")
	ahead := flag.Int64("ahead", 4<<20, "layout ahead: zeros written this many bytes at a time")
	flag.Parse()
	if *dir == "" {
		log.Fatal("--dir is required")
	}
	if err := os.RemoveAll(*dir); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	size := int64(*write) * int64(*writes)
	files := make([]*os.File, *jobs)
	for i := range files {
		f, err := os.OpenFile(filepath.Join(*dir, strconv.Itoa(i)), os.O_CREATE|os.O_RDWR|os.O_EXCL, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		if err := lay(f, *layout, size); err != nil {
			log.Fatalf("%s: %v", f.Name(), err)
		}
		files[i] = f
	}
	c0, t0 := cpu(), time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	for i, f := range files {
		wg.Go(func() { errs[i] = appendSync(f, *layout, *write, *writes, *ahead) })
	}
	wg.Wait()
	wall, used := time.Since(t0).Seconds(), cpu()-c0
	for i, err := range errs {
		if err != nil {
			log.Fatalf("%s: %v", files[i].Name(), err)
		}
	}
	n := float64(*jobs * *writes)
	gib := float64(size) * float64(*jobs) / (1 << 30)
	fmt.Printf("layout=%s jobs=%d bytes/write=%d writes=%.0f wall=%.2fs MiB/s=%.1f writes/s=%.0f cpu-us/write=%.1f cpu-s/GiB=%.2f\n",
		*layout, *jobs, *write, n, wall, gib*1024/wall, n/wall, used/n*1e6, used/gib)
	for _, f := range files {
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}

// lay prepares f's blocks as layout says, before the clock starts.
func lay(f *os.File, layout string, size int64) error {
	switch layout {
	case "grow", "ahead", "behind":
		return nil
	case "zeroed":
		z := make([]byte, 1<<20)
		for off := int64(0); off < size; off += int64(len(z)) {
			if _, err := f.WriteAt(z[:min(int64(len(z)), size-off)], off); err != nil {
				return fmt.Errorf("writing zeros: %w", err)
			}
		}
	case "sparse":
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("ftruncate: %w", err)
		}
	case "falloc":
		if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
			return fmt.Errorf("fallocate: %w", err)
		}
	default:
		return fmt.Errorf("unknown --layout %q", layout)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	return nil
}

// appendSync writes n writes of size bytes one after another from the
// start of f, each followed by fdatasync.
func appendSync(f *os.File, layout string, size, n int, ahead int64) error {
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	var zeros []byte
	var zeroed int64
	if layout == "ahead" {
		zeros = make([]byte, ahead)
	}
	var z *zeroer
	if layout == "behind" {
		z = startZeroer(f, ahead, int64(size)*int64(n))
		defer z.stop()
	}
	fd := int(f.Fd())
	for i := range n {
		off := int64(i) * int64(size)
		if z != nil {
			if err := z.await(off + int64(size)); err != nil {
				return err
			}
		}
		for zeros != nil && off+int64(size) > zeroed {
			if _, err := f.WriteAt(zeros, zeroed); err != nil {
				return fmt.Errorf("writing zeros at %d: %w", zeroed, err)
			}
			zeroed += ahead
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return fmt.Errorf("write at %d: %w", off, err)
		}
		if err := unix.Fdatasync(fd); err != nil {
			return fmt.Errorf("fdatasync after %d: %w", off, err)
		}
	}
	return nil
}

// zeroer writes zeros to a file chunk by chunk, each chunk fdatasync'd,
// keeping at most two chunks ahead of what its writer asked for.
type zeroer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	want   int64 // the writer's end so far
	zeroed int64 // zeros written and fdatasync'd up to here
	err    error
	done   bool
}

func startZeroer(f *os.File, chunk, size int64) *zeroer {
	z := &zeroer{}
	z.cond = sync.NewCond(&z.mu)
	go func() {
		zeros := make([]byte, chunk)
		fd := int(f.Fd())
		for off := int64(0); off < size; off += chunk {
			z.mu.Lock()
			for !z.done && off >= z.want+2*chunk {
				z.cond.Wait()
			}
			stop := z.done
			z.mu.Unlock()
			if stop {
				return
			}
			_, err := f.WriteAt(zeros, off)
			if err == nil {
				err = unix.Fdatasync(fd)
			}
			z.mu.Lock()
			if err != nil {
				z.err = fmt.Errorf("zeros at %d: %w", off, err)
			} else {
				z.zeroed = off + chunk
			}
			z.cond.Broadcast()
			z.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return z
}

// await records that the writer is about to write up to end, and waits
// until zeros reach it.
func (z *zeroer) await(end int64) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.want = end
	z.cond.Broadcast()
	for z.err == nil && z.zeroed < end {
		z.cond.Wait()
	}
	return z.err
}

func (z *zeroer) stop() {
	z.mu.Lock()
	z.done = true
	z.cond.Broadcast()
	z.mu.Unlock()
}
