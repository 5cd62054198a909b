package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fsTopdirFlag is FS_TOPDIR_FL of linux/fs.h ("chattr +T"), which
// x/sys/unix does not name.
const fsTopdirFlag = 0x00020000

// spreadCells marks the work directory as the top of a directory
// hierarchy (chattr +T), so that ext4's Orlov allocator puts each cell's
// data directory, a child of it, in a block group of its own with free
// inodes above the average, instead of next to its parent in /tmp's group.
// The partitions inside a cell stay together, as under a broker's data
// directory.
//
// Why: on an ext4 without a journal (this project's benchmark VM) a new
// inode skips every inode of its group freed in the last 60 seconds (6
// minutes while their inode-table block is dirty; fs/ext4/ialloc.c,
// recently_deleted), one buffer lookup each. /tmp's group takes the
// deletions of whatever else runs: a test suite's temporary directories,
// the previous matrix run's removal of its work directory. A 1,000-
// partition cell creates 2,000 inodes and paid that scan for each: a cell
// started right after 1,000 partitions were deleted spent 8.6–10.7
// CPU-s/GB, against 3.5–4.4 in a spread directory (docs/BENCHMARKS.md,
// "the cells' data directories spread over block groups"). retire keeps
// the run's own cells from freeing inodes; this keeps others' deletions
// out of the cells' groups. It is the same for every broker.
//
// Other filesystems refuse or ignore the flag: the error says so, and the
// run goes on without it.
func spreadCells(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return fmt.Errorf("reading the flags of %s: %w", dir, err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFlag)); err != nil {
		return fmt.Errorf("setting the top-directory flag of %s (chattr +T): %w", dir, err)
	}
	return nil
}
