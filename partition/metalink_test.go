package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// metaFile is the partition.metadata of partition p of topic in dir.
func metaFile(dir, topic string, p int) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%d", topic, p), partitionMetadataFile)
}

// sameInode reports whether the two files are one inode.
func sameInode(t *testing.T, a, b string) bool {
	t.Helper()
	sa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(sa, sb)
}

// wantTopicID fails unless partition p's partition.metadata names id.
func wantTopicID(t *testing.T, dir, topic string, p int, id [16]byte) {
	t.Helper()
	got, err := readPartitionMetadata(filepath.Dir(metaFile(dir, topic, p)))
	if err != nil || got != id {
		t.Fatalf("%s-%d: partition.metadata names %x (%v), want %x", topic, p, got, err, id)
	}
}

// TestCreateLogsLazySharesMetadataInode: the first appends to a topic's
// lazy logs create one partition.metadata and link it into the other
// directories; replacing one (a temporary file renamed over it) leaves the
// others alone; a source that no longer names the topic is not linked (the
// read-back catches it) and the file is created instead, and becomes the
// next source; a deleted source's directory makes the next one create; a
// crash and reopen find every partition with its topic id.
func TestCreateLogsLazySharesMetadataInode(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, nil)
	cfg := testConfig()
	s := openStoreOn(t, dir, fs, cfg)
	id, other := [16]byte{21}, [16]byte{22}
	logs, err := s.CreateLogsLazy("m", 0, 8, id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fs.Reset()
	for _, l := range logs[:4] {
		mustAppend(t, l, batch(2, 10, 1))
	}
	var creates, links int
	for _, op := range fs.Ops() {
		if filepath.Base(op.Path) != partitionMetadataFile {
			continue
		}
		switch op.Kind {
		case errorfs.OpCreate:
			creates++
		case errorfs.OpLink:
			links++
		}
	}
	if creates != 1 || links != 3 {
		t.Fatalf("partition.metadata of 4 first appends: %d created, %d linked; want 1, 3", creates, links)
	}
	for p := range 4 {
		wantTopicID(t, dir, "m", p, id)
		if !sameInode(t, metaFile(dir, "m", 0), metaFile(dir, "m", p)) {
			t.Fatalf("m-%d's partition.metadata is not m-0's inode", p)
		}
	}
	// The first flush of a linked directory fsyncs the shared file, the
	// directory and the data directory, as for a created one.
	if err := logs[2].Flush(); err != nil {
		t.Fatal(err)
	}

	// Replaced in m-0 (the source) as Sluice replaces it: the others keep
	// theirs; m-4's read-back sees the other id and creates its file.
	if err := writePartitionMetadata(fs, filepath.Dir(metaFile(dir, "m", 0)), other); err != nil {
		t.Fatal(err)
	}
	for p := 1; p < 4; p++ {
		wantTopicID(t, dir, "m", p, id)
	}
	mustAppend(t, logs[4], batch(1, 10, 1))
	wantTopicID(t, dir, "m", 4, id)
	if sameInode(t, metaFile(dir, "m", 0), metaFile(dir, "m", 4)) || sameInode(t, metaFile(dir, "m", 1), metaFile(dir, "m", 4)) {
		t.Fatal("m-4 linked a partition.metadata that names another topic")
	}
	if entries, err := os.ReadDir(dir); err != nil {
		t.Fatal(err)
	} else {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), newDirSuffix) {
				t.Fatalf("left behind: %s", e.Name())
			}
		}
	}
	mustAppend(t, logs[5], batch(1, 10, 1)) // m-4's file is the source now
	if !sameInode(t, metaFile(dir, "m", 4), metaFile(dir, "m", 5)) {
		t.Fatal("m-5 did not link m-4's partition.metadata")
	}

	// The source's directory deleted: m-6 creates its file.
	if err := s.DeleteLogs("m", []int32{4}, nil); err != nil {
		t.Fatal(err)
	}
	wantTopicID(t, dir, "m", 5, id)
	mustAppend(t, logs[6], batch(1, 10, 1))
	wantTopicID(t, dir, "m", 6, id)
	if sameInode(t, metaFile(dir, "m", 5), metaFile(dir, "m", 6)) {
		t.Fatal("m-6 shares m-5's inode though their source was deleted")
	}

	crashStore(s)
	s = openTestStore(t, dir)
	defer s.Close()
	for p := 1; p <= 6; p++ {
		l := s.Get("m", int32(p))
		switch {
		case p == 4:
			if l != nil {
				t.Fatal("deleted m-4 reopened")
			}
		case l == nil:
			t.Fatalf("m-%d not reopened", p)
		case l.TopicID() != id:
			t.Fatalf("m-%d reopened with topic id %x, want %x", p, l.TopicID(), id)
		}
	}
}

// TestCreateLogsLazyLinkFails: a failing link(2) (EMLINK, EPERM: a file
// system without hard links) costs nothing but the link: the file is
// created as before and the append succeeds.
func TestCreateLogsLazyLinkFails(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMLINK, syscall.EPERM, syscall.ENOSPC} {
		t.Run(errno.Error(), func(t *testing.T) {
			dir := t.TempDir()
			fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
				if op.Kind == errorfs.OpLink {
					return errno
				}
				return nil
			}))
			cfg := testConfig()
			s := openStoreOn(t, dir, fs, cfg)
			defer s.Close()
			id := [16]byte{23}
			logs, err := s.CreateLogsLazy("f", 0, 3, id, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range logs {
				mustAppend(t, l, batch(1, 10, 1))
			}
			for p := range 3 {
				wantTopicID(t, dir, "f", p, id)
			}
			if sameInode(t, metaFile(dir, "f", 0), metaFile(dir, "f", 1)) {
				t.Fatal("shared an inode with link failing")
			}
		})
	}
}

// TestCreateLogsLazyLinkFaultAtEachStep fails, in turn, each file
// operation of the first append to a topic's second partition (the one
// that links partition.metadata: mkdir, link, rename, the .log's creation
// and write) with EIO, then crashes the store and reopens it: every
// partition directory there is names the topic, no `-new` directory is
// left, the failed partition can be appended to after the reopen, and the
// first partition's records are intact.
func TestCreateLogsLazyLinkFaultAtEachStep(t *testing.T) {
	id := [16]byte{24}
	cfg := testConfig()
	run := func(t *testing.T, fail int) (ops []errorfs.Op, appendErr error) {
		dir := t.TempDir()
		n, armed := 0, false
		fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
			if !armed {
				return nil
			}
			n++
			if n == fail {
				return syscall.EIO
			}
			return nil
		}))
		s := openStoreOn(t, dir, fs, cfg)
		logs, err := s.CreateLogsLazy("e", 0, 2, id, cfg)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, logs[0], batch(3, 10, 1))
		fs.Reset()
		armed = true
		_, appendErr = logs[1].Append(batch(2, 10, 1))
		armed = false
		ops = fs.Ops()
		crashStore(s)

		s = openTestStore(t, dir)
		defer s.Close()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), newDirSuffix) {
				t.Fatalf("fail #%d: left behind after the reopen: %s", fail, e.Name())
			}
			if e.IsDir() && strings.HasPrefix(e.Name(), "e-") {
				var p int
				fmt.Sscanf(e.Name(), "e-%d", &p)
				wantTopicID(t, dir, "e", p, id)
			}
		}
		logs, err = s.CreateLogsLazy("e", 0, 2, id, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if end := logs[0].LogEndOffset(); end != 3 {
			t.Fatalf("fail #%d: e-0 ends at %d after the reopen, want 3", fail, end)
		}
		before := logs[1].LogEndOffset()
		mustAppend(t, logs[1], batch(1, 10, 1))
		if logs[1].LogEndOffset() != before+1 {
			t.Fatalf("fail #%d: e-1 end %d after one more record, want %d", fail, logs[1].LogEndOffset(), before+1)
		}
		wantTopicID(t, dir, "e", 1, id)
		return ops, appendErr
	}
	ops, err := run(t, 0)
	if err != nil {
		t.Fatal(err)
	}
	sawLink := false
	for _, op := range ops {
		sawLink = sawLink || op.Kind == errorfs.OpLink
	}
	t.Logf("the first append's file operations: %v", ops)
	if !sawLink {
		t.Fatalf("the second partition's first append did not link: %v", ops)
	}
	for k := 1; k <= len(ops); k++ {
		_, err := run(t, k)
		if ops[k-1].Kind != errorfs.OpLink && err == nil {
			t.Fatalf("%v failed, yet the append succeeded", ops[k-1])
		}
		if err != nil && !errors.Is(err, ErrStorage) {
			t.Fatalf("%v failed: %v, want a storage error", ops[k-1], err)
		}
	}
}

// TestCreateLogsLazyMismatchedLinkNotRemoved: when a link's read-back
// finds another topic's id and the link cannot be removed again, the
// append fails (a storage error) rather than create the file over the
// link, which would truncate the other directory's partition.metadata.
func TestCreateLogsLazyMismatchedLinkNotRemoved(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpRemove && filepath.Base(op.Path) == partitionMetadataFile &&
			strings.HasSuffix(filepath.Dir(op.Path), newDirSuffix) {
			return syscall.EIO
		}
		return nil
	}))
	cfg := testConfig()
	s := openStoreOn(t, dir, fs, cfg)
	defer s.Close()
	id, other := [16]byte{25}, [16]byte{26}
	logs, err := s.CreateLogsLazy("x", 0, 2, id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, logs[0], batch(1, 10, 1))
	if err := writePartitionMetadata(fs, filepath.Dir(metaFile(dir, "x", 0)), other); err != nil {
		t.Fatal(err)
	}
	if _, err := logs[1].Append(batch(1, 10, 1)); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with the mismatched link not removable: %v, want a storage error with EIO", err)
	}
	wantTopicID(t, dir, "x", 0, other)
}
