package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
	"github.com/sluice/sluice/partition"
)

// TestDiskFullAnswersStorageError fills the disk under one partition, then
// under the whole data directory (ENOSPC on every write and create through
// the store's filesystem): Produce to that partition answers at once with
// KAFKA_STORAGE_ERROR (56), again on every retry, while another partition
// keeps taking writes; CreateTopics answers KAFKA_STORAGE_ERROR, not
// UNKNOWN_SERVER_ERROR; the shutdown reports the offline log.
func TestDiskFullAnswersStorageError(t *testing.T) {
	var full atomic.Pointer[string] // path prefix that is full
	fsys := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		p := full.Load()
		if p == nil || (op.Kind != errorfs.OpWrite && op.Kind != errorfs.OpCreate && op.Kind != errorfs.OpMkdir) {
			return nil
		}
		if strings.HasPrefix(op.Path, *p) {
			return syscall.ENOSPC
		}
		return nil
	}))
	ts := startServer(t, "", func(c *ServerConfig) { c.Store.FS = fsys })
	ts.createTopic(t, "full", 1, nil)
	ts.createTopic(t, "fine", 1, nil)
	rc := dialRaw(t, ts.addr)
	good := makeBatch(noProducer, []byte("a"), []byte("b"))
	produce := func(topic string, want int16) {
		t.Helper()
		p := produceOne(t, rc, produceReq(9, -1, topic, 0, good))
		if p.ErrorCode != want {
			t.Fatalf("produce to %s: error %d (%v), want %d", topic, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode), want)
		}
	}
	produce("full", 0)
	partDir := filepath.Join(ts.dir, "full-0") + string(os.PathSeparator)
	full.Store(&partDir)
	for range 3 {
		produce("full", kerr.KafkaStorageError.Code)
	}
	produce("fine", 0)
	if err := ts.Store().Get("full", 0).Offline(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Offline: %v, want the stored ENOSPC", err)
	}
	// Fetch from the offline log: KAFKA_STORAGE_ERROR from v6, and
	// NOT_LEADER_OR_FOLLOWER before (clients that may not know 56).
	for _, v := range []int16{0, 3, 5, 6, 11} {
		want := kerr.KafkaStorageError.Code
		if v <= 5 {
			want = kerr.NotLeaderForPartition.Code
		}
		if got := fetchCode(t, rc, v, "full"); got != want {
			t.Errorf("fetch v%d from the offline log: %v, want %v", v, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
		}
	}

	all := ts.dir + string(os.PathSeparator)
	full.Store(&all)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 5
	req.TimeoutMillis = 5000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "new", 1, 1
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("CreateTopics on a full disk: %+v, want KAFKA_STORAGE_ERROR", resp.Topics)
	}

	full.Store(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := ts.Shutdown(ctx)
	ts.Server = nil
	if !errors.Is(err, partition.ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("shutdown: %v, want the offline log's ENOSPC", err)
	}
}

// fetchCode fetches partition 0 of topic from offset 0 with version and
// returns the partition's error code.
func fetchCode(t *testing.T, rc *rawConn, version int16, topic string) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = version, -1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return rc.roundTrip(req).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
}
