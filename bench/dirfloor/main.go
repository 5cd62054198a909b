// Command dirfloor measures the CPU of making partition-like directories
// (a directory and one created file in it, as a new partition's first
// append does) in a parent directory, after a tree of the same shape was
// made there and deleted (as the benchmark matrix's previous cell leaves
// it):
//
//	go run ./bench/dirfloor --dir /tmp/x/p              # plain parent
//	go run ./bench/dirfloor --dir /tmp/x/p --topdir     # parent with FS_TOPDIR_FL
//	go run ./bench/dirfloor --dir /tmp/x/p --staged     # made in a subdirectory, renamed into the parent
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// cpu is the process's CPU seconds (user + system).
func cpu() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// tree makes n directories with a file each in p and returns the CPU it took.
func tree(p string, n int, staged bool, tag string) (float64, error) {
	c0 := cpu()
	src := p
	if staged {
		src = filepath.Join(p, "stage-"+tag)
		if err := os.Mkdir(src, 0o755); err != nil {
			return 0, err
		}
	}
	for i := 0; i < n; i++ {
		d := filepath.Join(src, fmt.Sprintf("t%s-%d", tag, i))
		if err := unix.Mkdir(d, 0o755); err != nil {
			return 0, err
		}
		fd, err := unix.Open(filepath.Join(d, "00000000000000000000.log"), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return 0, err
		}
		unix.Close(fd)
		if staged {
			if err := unix.Rename(d, filepath.Join(p, fmt.Sprintf("t%s-%d", tag, i))); err != nil {
				return 0, err
			}
		}
	}
	return cpu() - c0, nil
}

func main() {
	parent := flag.String("dir", "", "parent (made)")
	n := flag.Int("n", 1000, "directories")
	topdir := flag.Bool("topdir", false, "set FS_TOPDIR_FL on the parent")
	staged := flag.Bool("staged", false, "make them in a subdirectory, then rename")
	flag.Parse()
	os.RemoveAll(*parent)
	if err := os.MkdirAll(*parent, 0o755); err != nil {
		log.Fatal(err)
	}
	if *topdir {
		f, err := os.Open(*parent)
		if err != nil {
			log.Fatal(err)
		}
		fl, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
		if err == nil {
			err = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(fl|0x20000))
		}
		if err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
	// A tree made and deleted first, as the previous cell's.
	if _, err := tree(*parent, *n, *staged, "old"); err != nil {
		log.Fatal(err)
	}
	ents, _ := os.ReadDir(*parent)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(*parent, e.Name()))
	}
	c, err := tree(*parent, *n, *staged, "new")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("topdir=%v staged=%v n=%d cpu=%.3fs (%.0f us per directory+file)\n", *topdir, *staged, *n, c, c/float64(*n)*1e6)
	os.RemoveAll(*parent)
}
