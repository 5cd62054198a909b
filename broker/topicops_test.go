package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/partition"
)

// openRegistry opens a store and the topic registry on dir, as New does.
func openRegistry(t testing.TB, dir string) (*partition.Store, *topics) {
	t.Helper()
	store, err := partition.OpenStore(partition.StoreConfig{Dir: dir, Defaults: partition.DefaultConfig(), Logger: testLogger()})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	reg, err := loadTopics(store, partition.DefaultConfig(), testLogger())
	if err != nil {
		store.Close()
		t.Fatalf("loadTopics: %v", err)
	}
	return store, reg
}

// runTopicOp performs one create, add or delete on dir, stopping after
// file step k (the hook stops it there and the store is abandoned as a
// crash leaves it). It reports whether the operation completed first.
func runTopicOp(t *testing.T, dir, op string, k int) bool {
	t.Helper()
	store, reg := openRegistry(t, dir)
	defer store.Abandon()
	n := 0
	stop := errors.New("crash")
	reg.setAfterStep(func(_, _ string) error {
		if n++; n == k {
			return stop
		}
		return nil
	})
	var err error
	switch op {
	case "create":
		_, err = reg.createTopic("fresh", 3, map[string]string{"cleanup.policy": "compact"})
	case "add":
		_, err = reg.addPartitions("keep", 4)
	default:
		err = reg.deleteTopic("doomed")
	}
	if err != nil && !errors.Is(err, stop) {
		t.Fatalf("%s: %v", op, err)
	}
	return err == nil
}

// TestTopicOpCrashAtEveryStep abandons a topic creation, a deletion and a
// partition addition after every file step (the store abandoned as a crash
// leaves it, without a flush, checkpoint or clean-shutdown marker) and
// checks that the next start succeeds with the topic wholly there, with its
// configs, or wholly gone, and the other topics untouched.
func TestTopicOpCrashAtEveryStep(t *testing.T) {
	for _, op := range []string{"create", "delete", "add"} {
		for k := 1; ; k++ {
			dir := t.TempDir()
			store, reg := openRegistry(t, dir)
			mustCreate(t, reg, "keep", 2, map[string]string{"retention.ms": "1000"})
			if op == "delete" {
				mustCreate(t, reg, "doomed", 3, map[string]string{"cleanup.policy": "compact"})
			}
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			completed := runTopicOp(t, dir, op, k)
			checkAfterCrash(t, dir, op, k)
			if completed {
				break
			}
		}
	}
}

func mustCreate(t *testing.T, reg *topics, name string, n int32, configs map[string]string) {
	t.Helper()
	if _, err := reg.createTopic(name, n, configs); err != nil {
		t.Fatal(err)
	}
}

// checkAfterCrash reopens dir and checks the outcome of an interrupted op.
func checkAfterCrash(t *testing.T, dir, op string, k int) {
	t.Helper()
	store, reg := openRegistry(t, dir)
	defer store.Close()
	wantKeep := 2
	if op == "add" {
		wantKeep = 4 // rolled forward
	}
	keep := reg.get("keep")
	if keep == nil || len(keep.partitions) != wantKeep {
		t.Fatalf("%s step %d: topic keep has %v, want %d partitions", op, k, keep, wantKeep)
	}
	for _, l := range keep.partitions {
		if l == nil || l.Config().RetentionMs != 1000 || l.TopicID() != keep.id {
			t.Fatalf("%s step %d: keep partition %v without its config or id", op, k, l)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "topic-operation*")); len(left) > 0 {
		t.Fatalf("%s step %d: %v left after start", op, k, left)
	}
	if store.OfflineCount() != 0 {
		t.Fatalf("%s step %d: offline partitions %+v", op, k, store.Offline())
	}
	configs, _ := readTopicConfigs(dir)
	if op == "add" {
		return
	}
	if op == "delete" {
		var dirs []string // a directory renamed to -delete is deleted; its files go in the background
		all, _ := filepath.Glob(filepath.Join(dir, "doomed-*"))
		for _, d := range all {
			if !strings.HasSuffix(d, "-delete") {
				dirs = append(dirs, d)
			}
		}
		if reg.get("doomed") != nil || len(dirs) != 0 || configs["doomed"] != nil {
			t.Fatalf("delete step %d: topic partly there: dirs %v configs %v", k, dirs, configs["doomed"])
		}
		return
	}
	fresh := reg.get("fresh")
	if fresh == nil || len(fresh.partitions) != 3 || configs["fresh"]["cleanup.policy"] != "compact" {
		t.Fatalf("create step %d: topic not whole: %+v configs %v", k, fresh, configs["fresh"])
	}
	for _, l := range fresh.partitions {
		if l == nil || !l.Config().Compact() || l.TopicID() != fresh.id {
			t.Fatalf("create step %d: partition %v without its config or id", k, l)
		}
	}
}

// TestLegacyTopicOpFileFinished: the single topic-operation.json of earlier
// versions is still finished at start (here a recorded delete).
func TestLegacyTopicOpFileFinished(t *testing.T) {
	dir := t.TempDir()
	store, reg := openRegistry(t, dir)
	mustCreate(t, reg, "keep", 1, nil)
	mustCreate(t, reg, "doomed", 2, map[string]string{"cleanup.policy": "compact"})
	id := reg.get("doomed").id
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	op := fmt.Sprintf(`{"op":"delete","topic":"doomed","topic_id":"%x","partitions":2}`, id)
	if err := os.WriteFile(filepath.Join(dir, topicOpFile), []byte(op), 0o644); err != nil {
		t.Fatal(err)
	}
	store, reg = openRegistry(t, dir)
	defer store.Close()
	configs, _ := readTopicConfigs(dir)
	if reg.get("doomed") != nil || configs["doomed"] != nil || reg.get("keep") == nil {
		t.Fatalf("after start: doomed %v (configs %v), keep %v", reg.get("doomed"), configs["doomed"], reg.get("keep"))
	}
	if _, err := os.Stat(filepath.Join(dir, topicOpFile)); !os.IsNotExist(err) {
		t.Fatalf("%s left after start: %v", topicOpFile, err)
	}
}

// TestTopicOpCrashWithTwoInFlight: two creations stopped part way at once
// (each with its own record) are both finished at the next start.
func TestTopicOpCrashWithTwoInFlight(t *testing.T) {
	dir := t.TempDir()
	store, reg := openRegistry(t, dir)
	stop := errors.New("crash")
	reg.setAfterStep(func(topic, step string) error {
		if topic == "a" && step == "partition 1 created" || topic == "b" && step == "op-written" {
			return stop
		}
		return nil
	})
	_, errA := reg.createTopic("a", 3, map[string]string{"cleanup.policy": "compact"})
	_, errB := reg.createTopic("b", 2, nil)
	if !errors.Is(errA, stop) || !errors.Is(errB, stop) {
		t.Fatalf("creations not stopped: %v, %v", errA, errB)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "topic-operation-*")); len(left) != 2 {
		t.Fatalf("records before the crash: %v, want 2", left)
	}
	store.Abandon()
	store, reg = openRegistry(t, dir)
	defer store.Close()
	a, b := reg.get("a"), reg.get("b")
	if a == nil || len(a.partitions) != 3 || !a.partitions[2].Config().Compact() || b == nil || len(b.partitions) != 2 {
		t.Fatalf("after start: a %+v, b %+v", a, b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "topic-operation*")); len(left) != 0 {
		t.Fatalf("records left after start: %v", left)
	}
}
