package partition

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fsTopDirFlag is FS_TOPDIR_FL (`chattr +T`): ext4's Orlov allocator
// treats a directory with it as the top of a hierarchy and spreads the
// directories made in it over the file system's block groups, as it does
// for directories made in the root.
const fsTopDirFlag = 0x00020000

// Seams for tests: the flag ioctls (fault injection).
var (
	getDirFlags = func(fd int) (uint32, error) { return unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS) }
	setDirFlags = func(fd int, flags uint32) error {
		return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(int32(flags)))
	}
)

// markTopDir sets FS_TOPDIR_FL on the data directory, keeping its other
// flags; set reports whether it changed anything. Best effort: a file
// system without the flag (XFS, tmpfs: ENOTTY, EOPNOTSUPP) or a directory
// the process may not change (EPERM) returns the error, and the caller
// goes on without it.
//
// Why: without it ext4 places a new partition directory, and the .log
// created in it, in the data directory's block group, and ext4 without a
// journal scans past every inode of that group freed in the last minute
// (recently_deleted) for each new one; where partitions or test data are
// deleted and created often, that scan was most of the CPU of a
// 1,000-partition topic's first appends. Spread directories start in
// groups without those. Data placement is otherwise unchanged: a
// partition's files stay in its directory's group.
func markTopDir(dir string) (set bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, fmt.Errorf("cannot open data directory %q: %w", dir, err)
	}
	defer f.Close()
	fd := int(f.Fd())
	flags, err := getDirFlags(fd)
	if err != nil {
		return false, fmt.Errorf("cannot read the flags of %q: %w", dir, err)
	}
	if flags&fsTopDirFlag != 0 {
		return false, nil
	}
	if err := setDirFlags(fd, flags|fsTopDirFlag); err != nil {
		return false, fmt.Errorf("cannot set FS_TOPDIR_FL on %q: %w", dir, err)
	}
	return true, nil
}
