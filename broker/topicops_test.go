package broker

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice/sluice/partition"
)

// openRegistry opens a store and the topic registry on dir, as New does.
func openRegistry(t *testing.T, dir string) (*partition.Store, *topics) {
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

// topicOpChild runs in a child process: it performs one create or delete
// and dies (os.Exit, no Close: what kill -9 leaves) after file step k.
func topicOpChild(t *testing.T) {
	dir, op := os.Getenv("SLUICE_TOPICOP_DIR"), os.Getenv("SLUICE_TOPICOP")
	k, _ := strconv.Atoi(os.Getenv("SLUICE_TOPICOP_STEP"))
	_, reg := openRegistry(t, dir)
	n := 0
	reg.afterStep = func(step string) error {
		if n++; n == k {
			fmt.Printf("crashed after step %d: %s\n", k, step)
			os.Exit(0)
		}
		return nil
	}
	var err error
	if op == "create" {
		_, err = reg.createTopic("fresh", 3, map[string]string{"cleanup.policy": "compact"})
	} else {
		err = reg.deleteTopic("doomed")
	}
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	fmt.Printf("completed after %d steps\n", n)
	os.Exit(0)
}

// TestTopicOpCrashAtEveryStep abandons a topic creation and a deletion
// after every file step (in a child process that exits there) and checks
// that the next start succeeds with the topic wholly there, with its
// configs, or wholly gone, and the other topic untouched.
func TestTopicOpCrashAtEveryStep(t *testing.T) {
	if os.Getenv("SLUICE_TOPICOP") != "" {
		topicOpChild(t)
		return
	}
	for _, op := range []string{"create", "delete"} {
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
			cmd := exec.Command(os.Args[0], "-test.run=^TestTopicOpCrashAtEveryStep$")
			cmd.Env = append(os.Environ(), "SLUICE_TOPICOP="+op, "SLUICE_TOPICOP_DIR="+dir,
				"SLUICE_TOPICOP_STEP="+strconv.Itoa(k))
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "crashed after") && !strings.Contains(string(out), "completed") {
				t.Fatalf("%s step %d: child: %v\n%s", op, k, err, out)
			}
			checkAfterCrash(t, dir, op, k)
			if strings.Contains(string(out), "completed") {
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
	if keep := reg.get("keep"); keep == nil || len(keep.partitions) != 2 || keep.partitions[1].Config().RetentionMs != 1000 {
		t.Fatalf("%s step %d: topic keep damaged: %+v", op, k, keep)
	}
	if _, err := os.Stat(filepath.Join(dir, topicOpFile)); !os.IsNotExist(err) {
		t.Fatalf("%s step %d: %s left after start: %v", op, k, topicOpFile, err)
	}
	if store.OfflineCount() != 0 {
		t.Fatalf("%s step %d: offline partitions %+v", op, k, store.Offline())
	}
	configs, _ := readTopicConfigs(dir)
	if op == "delete" {
		dirs, _ := filepath.Glob(filepath.Join(dir, "doomed-*"))
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
