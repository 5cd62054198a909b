package errorfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

func iovec(bufs ...[]byte) []unix.Iovec {
	var iov []unix.Iovec
	for _, b := range bufs {
		iov = append(iov, unix.Iovec{Base: unsafe.SliceData(b), Len: uint64(len(b))})
	}
	return iov
}

// TestRuleFailsKthMatchingCall: only the k-th matching call fails (and with
// Sticky every later one), the file is untouched by a failed write, and the
// error names the call and wraps the errno.
func TestRuleFailsKthMatchingCall(t *testing.T) {
	f := func(rule *errorfs.Rule, want []bool) {
		t.Helper()
		dir := t.TempDir()
		fs := errorfs.Wrap(vfs.Default, rule)
		file, err := fs.Create(filepath.Join(dir, "f"))
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		var size int64
		for i, fail := range want {
			_, err := file.WriteAt([]byte("x"), int64(i))
			if got := err != nil; got != fail {
				t.Fatalf("write %d: %v, want failure %v", i+1, err, fail)
			}
			if err == nil {
				size = int64(i + 1)
			} else if !errors.Is(err, rule.Err) {
				t.Fatalf("write %d: %v does not wrap %v", i+1, err, rule.Err)
			}
		}
		if st, _ := file.Stat(); st.Size() != size {
			t.Fatalf("file is %d bytes, want %d", st.Size(), size)
		}
	}
	writes := errorfs.Kinds(errorfs.OpWrite)
	f(errorfs.OnIndex(2, writes, syscall.EIO), []bool{false, true, false, false})
	f(&errorfs.Rule{Match: writes, K: 3, Err: syscall.ENOSPC, Sticky: true}, []bool{false, false, true, true})
	f(errorfs.ENOSPC(2), []bool{true, true, true}) // the Create was the first
	f(errorfs.OnIndex(5, errorfs.Kinds(errorfs.OpSync), syscall.EIO), []bool{false, false})
}

// TestShortPwritev: a short write stores the first half and returns its
// count with no error, as the kernel may.
func TestShortPwritev(t *testing.T) {
	dir := t.TempDir()
	var n int
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpWrite {
			n++
			if n == 1 {
				return errorfs.ErrShortWrite
			}
		}
		return nil
	}))
	file, err := fs.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	w, err := file.Pwritev(iovec([]byte("abc"), []byte("defgh")), 0)
	if err != nil || w != 4 {
		t.Fatalf("short pwritev: %d, %v; want 4, nil", w, err)
	}
	if w, err = file.Pwritev(iovec([]byte("efgh")), 4); err != nil || w != 4 {
		t.Fatalf("pwritev: %d, %v", w, err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil || string(got) != "abcdefgh" {
		t.Fatalf("file %q (%v)", got, err)
	}
	if vfs.OSFile(file) == nil {
		t.Fatal("OSFile cannot unwrap an errorfs file")
	}
}

// TestOpsAndSkipSyncs: every mutating call is recorded in order; SkipSyncs
// still records and injects fsyncs.
func TestOpsAndSkipSyncs(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, errorfs.OnIndex(1, errorfs.Kinds(errorfs.OpSyncDir), syscall.EIO)).SkipSyncs()
	p := filepath.Join(dir, "f")
	file, _ := fs.Create(p)
	file.Write([]byte("x"))
	file.Sync()
	file.Close()
	fs.Rename(p, p+"2")
	if err := vfs.SyncDir(fs, dir); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SyncDir: %v, want EIO", err)
	}
	var kinds []errorfs.Kind
	for _, op := range fs.Ops() {
		kinds = append(kinds, op.Kind)
	}
	want := []errorfs.Kind{errorfs.OpCreate, errorfs.OpWrite, errorfs.OpSync, errorfs.OpRename, errorfs.OpSyncDir}
	if len(kinds) != len(want) {
		t.Fatalf("ops %v, want %v", fs.Ops(), want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("ops %v, want %v", fs.Ops(), want)
		}
	}
}
