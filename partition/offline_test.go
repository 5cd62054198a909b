package partition

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/vfs"

	"github.com/sluice/sluice/segment"
)

// damagedStore makes a data directory whose __consumer_offsets-3 has a
// flipped byte in its third batch, below its recovery point, and no
// clean-shutdown marker (the start after a disk fault). Every partition
// holds 10 batches of 2 records. It returns the damaged file and the
// position of the damaged batch.
func damagedStore(t *testing.T, dir string) (string, int64) {
	t.Helper()
	s := openTestStore(t, dir)
	var pos int64
	for _, tp := range []topicPartition{{"t", 0}, {"t", 1}, {"__consumer_offsets", 3}} {
		l, err := s.Create(tp.topic, tp.partition, [16]byte{7}, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			if i == 2 {
				pos = l.Size()
			}
			mustAppend(t, l, batch(2, 100, 1))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatal(err)
	}
	name := lastLogFile(t, filepath.Join(dir, "__consumer_offsets-3"))
	flipByte(t, name, pos+segment.HeaderSize+5)
	return name, pos
}

func TestStoreTakesCorruptPartitionOffline(t *testing.T) {
	dir := t.TempDir()
	name, _ := damagedStore(t, dir)
	for round := 0; round < 2; round++ { // the damage is found again after a restart
		s := openTestStore(t, dir)
		off := s.Offline()
		if len(off) != 1 || off[0].Topic != "__consumer_offsets" || off[0].Partition != 3 || s.OfflineCount() != 1 {
			t.Fatalf("round %d: offline %+v", round, off)
		}
		wantErr(t, off[0].Err, segment.ErrCorrupt)
		if msg := off[0].Err.Error(); !strings.Contains(msg, name) || !strings.Contains(msg, "offset 4") {
			t.Fatalf("error %q does not name the file and offset 4", msg)
		}
		if off[0].TopicID != [16]byte{7} {
			t.Fatalf("offline topic id %x", off[0].TopicID)
		}
		if s.Get("__consumer_offsets", 3) != nil {
			t.Fatal("offline partition listed as a log")
		}
		for p := int32(0); p < 2; p++ {
			if got := len(readAll(t, s.Get("t", p), 0)); got != 10 {
				t.Fatalf("t-%d: %d batches readable", p, got)
			}
		}
		_, err := s.Create("__consumer_offsets", 3, [16]byte{7}, testConfig())
		wantErr(t, err, ErrOffline)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
			t.Fatalf("clean-shutdown marker written with a partition offline: %v", err)
		}
		rps, err := readOffsetCheckpoint(vfs.Default, filepath.Join(dir, recoveryPointFile))
		if err != nil || rps[topicPartition{"__consumer_offsets", 3}] != 20 {
			t.Fatalf("offline partition's recovery point not kept: %v %v", rps, err)
		}
	}
}

func TestRepairTruncatesToLastValidBatch(t *testing.T) {
	dir := t.TempDir()
	name, pos := damagedStore(t, dir)
	before, _ := os.ReadFile(name)

	s := openTestStore(t, dir)
	_, err := Repair(RepairOptions{Dir: dir, Topic: "__consumer_offsets", Partition: -1, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("repair while the store is open: %v", err)
	}
	s.Close()

	plan, err := Repair(RepairOptions{Dir: dir, Partition: -1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 3 {
		t.Fatalf("%d reports", len(plan))
	}
	var r RepairReport
	for _, p := range plan {
		if p.Topic == "__consumer_offsets" {
			r = p
		} else if p.Damaged {
			t.Fatalf("healthy partition reported damaged: %+v", p)
		}
	}
	if !r.Damaged || r.Repaired || r.File != name || r.Position != pos || r.FirstLostOffset != 4 ||
		r.EndLostOffset != 20 || r.LostBytes != int64(len(before))-pos {
		t.Fatalf("plan %+v; want %s at %d, offsets [4, 20), %d bytes", r, name, pos, int64(len(before))-pos)
	}
	if after, _ := os.ReadFile(name); !bytes.Equal(before, after) {
		t.Fatal("a plan changed the segment")
	}

	done, err := Repair(RepairOptions{Dir: dir, Topic: "__consumer_offsets", Partition: 3, Execute: true, Logger: quietLogger()})
	if err != nil || len(done) != 1 || !done[0].Repaired {
		t.Fatalf("execute: %+v %v", done, err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	if n := s.OfflineCount(); n != 0 {
		t.Fatalf("%d partitions still offline after repair: %+v", n, s.Offline())
	}
	l := s.Get("__consumer_offsets", 3)
	if l.LogEndOffset() != 4 || len(readAll(t, l, 0)) != 2 {
		t.Fatalf("repaired log end %d", l.LogEndOffset())
	}
	mustAppend(t, l, batch(2, 100, 1))
	verifyDir(t, l.Dir())
	again, err := Repair(RepairOptions{Dir: t.TempDir(), Partition: -1, Logger: quietLogger()})
	if err != nil || len(again) != 0 {
		t.Fatalf("repair of an empty directory: %+v %v", again, err)
	}
}
