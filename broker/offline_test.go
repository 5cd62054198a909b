package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/segment"
)

// commitRaw commits offset 1 of t-0 for group as a simple consumer
// (generation -1) and returns the partition's error code.
func commitRaw(rc *rawConn, groupID string) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 2
	req.Group, req.Generation = groupID, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.OffsetCommitResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func findCoordinatorCode(rc *rawConn, groupID string) int16 {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 2
	req.CoordinatorKey = groupID
	return rc.roundTrip(req).(*kmsg.FindCoordinatorResponse).ErrorCode
}

// TestOffsetsPartitionOfflineAfterCorruption damages a __consumer_offsets
// partition below its recovery point and checks the broker still starts:
// every other partition works, the bad one answers KAFKA_STORAGE_ERROR and
// shows as Kafka shows an offline partition, and only the groups mapped to
// it lose their coordinator.
func TestOffsetsPartitionOfflineAfterCorruption(t *testing.T) {
	dir := t.TempDir()
	gcfg := testGroupConfig()
	gcfg.Partitions = 4
	bad := "group-bad"
	pBad := group.PartitionFor(bad, 4)
	good := ""
	for i := 0; good == ""; i++ {
		if g := fmt.Sprintf("group-%d", i); group.PartitionFor(g, 4) != pBad {
			good = g
		}
	}
	ts := startGroupServer(t, dir, gcfg)
	ts.createTopic(t, "t", 2, nil)
	produceValues(t, ts.addr, "t", 0, 10)
	rc := dialRaw(t, ts.addr)
	for _, g := range []string{bad, good} {
		if code := commitRaw(rc, g); code != 0 {
			t.Fatalf("commit %s: %v", g, kerr.ErrorForCode(code))
		}
	}
	stopGroupServer(t, ts)

	// The start after a disk fault: no clean marker, a flipped byte in the
	// bad partition's only batch.
	os.Remove(filepath.Join(dir, ".kafka_cleanshutdown"))
	seg := filepath.Join(dir, fmt.Sprintf("%s-%d", group.TopicName, pBad), "00000000000000000000.log")
	flipFileByte(t, seg, segment.HeaderSize+5)

	ts = startGroupServer(t, dir, gcfg)
	rc = dialRaw(t, ts.addr)
	if got := ts.Broker().store.OfflineCount(); got != 1 {
		t.Fatalf("%d partitions offline, want 1", got)
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 9
	for _, name := range []string{group.TopicName, "t"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		meta.Topics = append(meta.Topics, rt)
	}
	mresp := rc.roundTrip(meta).(*kmsg.MetadataResponse)
	for _, mt := range mresp.Topics {
		for _, p := range mt.Partitions {
			offline := *mt.Topic == group.TopicName && p.Partition == pBad
			if offline != (p.ErrorCode == kerr.LeaderNotAvailable.Code) || offline != (p.Leader == -1) ||
				offline != (len(p.OfflineReplicas) == 1) {
				t.Fatalf("metadata %s-%d: error %d leader %d offline %v", *mt.Topic, p.Partition, p.ErrorCode, p.Leader, p.OfflineReplicas)
			}
		}
	}
	// Requests for the offline partition: KAFKA_STORAGE_ERROR.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 4
	for _, tp := range []struct {
		topic string
		p     int32
	}{{group.TopicName, pBad}, {"t", 1}} {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = tp.topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = tp.p, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		lo.Topics = append(lo.Topics, rt)
	}
	lresp := rc.roundTrip(lo).(*kmsg.ListOffsetsResponse)
	if c := lresp.Topics[0].Partitions[0].ErrorCode; c != kerr.KafkaStorageError.Code {
		t.Fatalf("ListOffsets on the offline partition: %v", kerr.ErrorForCode(c))
	}
	if p := lresp.Topics[1].Partitions[0]; p.ErrorCode != 0 || p.Offset < 0 {
		t.Fatalf("ListOffsets on t-1: error %d offset %d", p.ErrorCode, p.Offset)
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 11
	fetch.MaxBytes, fetch.MaxWaitMillis = 1<<20, 0
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = group.TopicName
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = pBad, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	if c := rc.roundTrip(fetch).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode; c != kerr.KafkaStorageError.Code {
		t.Fatalf("Fetch on the offline partition: %v", kerr.ErrorForCode(c))
	}
	// Groups: only the one on the offline partition is unavailable.
	if c := findCoordinatorCode(rc, bad); c != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("FindCoordinator(%s): %v", bad, kerr.ErrorForCode(c))
	}
	if c := commitRaw(rc, bad); c != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit %s: %v", bad, kerr.ErrorForCode(c))
	}
	if c := findCoordinatorCode(rc, good); c != 0 {
		t.Fatalf("FindCoordinator(%s): %v", good, kerr.ErrorForCode(c))
	}
	if c := commitRaw(rc, good); c != 0 {
		t.Fatalf("commit %s: %v", good, kerr.ErrorForCode(c))
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 3
	of.Group = good
	oft := kmsg.NewOffsetFetchRequestTopic()
	oft.Topic, oft.Partitions = "t", []int32{0}
	of.Topics = append(of.Topics, oft)
	if p := rc.roundTrip(of).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 1 {
		t.Fatalf("OffsetFetch %s: error %d offset %d", good, p.ErrorCode, p.Offset)
	}
	cl := newKgo(t, ts.addr, kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if got := len(consumeN(testCtx(t), t, cl, 10)); got != 10 {
		t.Fatalf("consumed %d of t's 10 records", got)
	}
}

func flipFileByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}
