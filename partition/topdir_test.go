package partition

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// dirFlags reads dir's inode flags; the test is skipped on a file system
// without them (tmpfs, overlay without support).
func dirFlags(t *testing.T, dir string) uint32 {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		t.Skipf("no inode flags on %s: %v", dir, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return flags
}

const fsNoAtimeFlag = 0x00000080 // FS_NOATIME_FL, chattr +A

func TestStoreMarksDataDirTopDir(t *testing.T) {
	dir := t.TempDir()
	before := dirFlags(t, dir)
	if before&fsTopDirFlag != 0 {
		t.Fatalf("a new directory has FS_TOPDIR_FL (flags %#x)", before)
	}
	// A flag of the user's own stays.
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(before|fsNoAtimeFlag)); err != nil {
		f.Close()
		t.Skipf("cannot set FS_NOATIME_FL: %v", err)
	}
	f.Close()
	s := openStoreOn(t, dir, nil, testConfig())
	if got := dirFlags(t, dir); got&fsTopDirFlag == 0 || got&fsNoAtimeFlag == 0 {
		t.Fatalf("data directory flags %#x after open: want FS_TOPDIR_FL and the FS_NOATIME_FL set before", got)
	}
	logs, err := s.CreateLogsLazy("spread", 0, 3, [16]byte{7}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		mustAppend(t, l, batch(2, 10, 1))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Opening again changes nothing and finds the records.
	if set, err := markTopDir(dir); err != nil || set {
		t.Fatalf("markTopDir on a marked directory: set %v, err %v; want false, nil", set, err)
	}
	s = openStoreOn(t, dir, nil, testConfig())
	defer s.Close()
	for p := range int32(3) {
		l := s.Get("spread", p)
		if l == nil {
			t.Fatalf("spread-%d not reopened", p)
		}
		if leo := l.LogEndOffset(); leo != 2 {
			t.Fatalf("spread-%d: log end %d after reopen, want 2", p, leo)
		}
	}
}

// The flag is a placement hint: a store whose directory cannot take it
// (another owner: EPERM; XFS, tmpfs: ENOTTY) opens and appends as before.
func TestStoreOpensWithoutTopDir(t *testing.T) {
	for _, tc := range []struct {
		name     string
		get, set error
	}{
		{"set EPERM", nil, unix.EPERM},
		{"set EOPNOTSUPP", nil, unix.EOPNOTSUPP},
		{"get ENOTTY", unix.ENOTTY, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getSaved, setSaved := getDirFlags, setDirFlags
			defer func() { getDirFlags, setDirFlags = getSaved, setSaved }()
			var sets int
			if tc.get != nil {
				getDirFlags = func(int) (uint32, error) { return 0, tc.get }
			}
			setDirFlags = func(fd int, flags uint32) error {
				sets++
				if tc.set != nil {
					return tc.set
				}
				return setSaved(fd, flags)
			}
			dir := t.TempDir()
			s := openStoreOn(t, dir, nil, testConfig())
			defer s.Close()
			if want := map[bool]int{true: 0, false: 1}[tc.get != nil]; sets != want {
				t.Fatalf("%d flag writes, want %d", sets, want)
			}
			l, err := s.Create("plain", 0, [16]byte{8}, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			if r := mustAppend(t, l, batch(3, 10, 1)); r.LastOffset != 2 {
				t.Fatalf("append: last offset %d, want 2", r.LastOffset)
			}
			f, err := os.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got, err := getSaved(int(f.Fd())); err == nil && got&fsTopDirFlag != 0 {
				t.Fatalf("FS_TOPDIR_FL set although its ioctl failed (flags %#x)", got)
			}
		})
	}
}
