package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/segment"
)

// TestCorruptOffsetsPartitionStartsAndRepairs is issue 10's acceptance for
// a disk fault: a data directory whose __consumer_offsets partition is
// corrupt below its recovery point starts with every other partition
// readable by a real client; the bad one answers KAFKA_STORAGE_ERROR, its
// groups COORDINATOR_NOT_AVAILABLE, /healthz 503; `sluice repair` refuses
// while sluiced runs, plans, then truncates; the restart has everything
// online.
func TestCorruptOffsetsPartitionStartsAndRepairs(t *testing.T) {
	dataDir := t.TempDir()
	const victim, records = "victim-group", 300
	pBad := group.PartitionFor(victim, 50) // the default offsets.topic.num.partitions
	survivor := ""
	for i := 0; survivor == ""; i++ {
		if g := fmt.Sprintf("survivor-%d", i); group.PartitionFor(g, 50) != pBad {
			survivor = g
		}
	}
	d := start(t, dataDir)
	createTopic(t, d.Addr, "orders", 3)
	cl := newClient(t, d.Addr, kgo.DefaultProduceTopic("orders"))
	var recs []*kgo.Record
	for i := range records {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("order-%d", i))})
	}
	produceSync(t, cl, recs...)
	adm := kadm.NewClient(cl)
	for _, g := range []string{victim, survivor} {
		commitOffset(t, adm, g, "orders", 0, 7)
	}
	cl.Close()
	d.Stop()

	// The start after a disk fault: no clean-shutdown marker, and a flipped
	// byte in the victim group's __consumer_offsets segment, below its
	// recovery point (everything was flushed at the clean stop).
	os.Remove(filepath.Join(dataDir, ".kafka_cleanshutdown"))
	seg := filepath.Join(dataDir, fmt.Sprintf("%s-%d", group.TopicName, pBad), "00000000000000000000.log")
	flipByteAt(t, seg, segment.HeaderSize+5)

	d = start(t, dataDir, "--http-listen", "127.0.0.1:0")
	base := "http://" + httpAddr(t, d)
	if !strings.Contains(d.Stderr(), "partition offline") || !strings.Contains(d.Stderr(), seg) {
		t.Fatalf("no ERROR naming %s:\n%s", seg, tail(d.Stderr(), 3000))
	}
	if got := consumeN(t, d.Addr, "orders", records); len(got) != records {
		t.Fatalf("read %d of %d records of orders", len(got), records)
	}
	rc := dialRaw(t, d.Addr)
	if c := listOffsetCode(rc, group.TopicName, pBad); c != kerr.KafkaStorageError.Code {
		t.Fatalf("ListOffsets on %s-%d: %v, want KAFKA_STORAGE_ERROR", group.TopicName, pBad, kerr.ErrorForCode(c))
	}
	if c := findCoordinator(rc, victim); c != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("FindCoordinator(%s): %v", victim, kerr.ErrorForCode(c))
	}
	if c := findCoordinator(rc, survivor); c != 0 {
		t.Fatalf("FindCoordinator(%s): %v", survivor, kerr.ErrorForCode(c))
	}
	if code, body := httpGetBody(t, base+"/healthz"); code != http.StatusServiceUnavailable ||
		!strings.Contains(body, fmt.Sprintf("%s-%d", group.TopicName, pBad)) {
		t.Fatalf("/healthz with a partition offline: %d %s", code, body)
	}
	if _, body := httpGetBody(t, base+"/metrics"); !strings.Contains(body, "sluice_offline_partitions 1") {
		t.Fatal("/metrics has no sluice_offline_partitions 1")
	}
	if code, out := runSluice(t, "repair", "--data-dir", dataDir); code == 0 || !strings.Contains(out, "in use") {
		t.Fatalf("repair while sluiced runs: status %d\n%s", code, out)
	}
	d.Stop()

	code, out := runSluice(t, "repair", "--data-dir", dataDir)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("%s-%d: would truncate", group.TopicName, pBad)) ||
		!strings.Contains(out, "1 damaged") {
		t.Fatalf("repair plan: status %d\n%s", code, out)
	}
	code, out = runSluice(t, "repair", "--data-dir", dataDir, "--topic", group.TopicName,
		"--partition", fmt.Sprint(pBad), "--execute")
	if code != 0 || !strings.Contains(out, "truncated") || !strings.Contains(out, "offsets 0..") {
		t.Fatalf("repair --execute: status %d\n%s", code, out)
	}
	t.Logf("sluice repair --execute:\n%s", out)

	d = start(t, dataDir, "--http-listen", "127.0.0.1:0")
	base = "http://" + httpAddr(t, d)
	if code, body := httpGetBody(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz after repair: %d %s", code, body)
	}
	rc = dialRaw(t, d.Addr)
	if c := findCoordinator(rc, victim); c != 0 {
		t.Fatalf("FindCoordinator(%s) after repair: %v", victim, kerr.ErrorForCode(c))
	}
	if c := listOffsetCode(rc, group.TopicName, pBad); c != 0 {
		t.Fatalf("ListOffsets after repair: %v", kerr.ErrorForCode(c))
	}
	if got := consumeN(t, d.Addr, "orders", records); len(got) != records {
		t.Fatalf("read %d of %d records after repair", len(got), records)
	}
	cl = newClient(t, d.Addr)
	commitOffset(t, kadm.NewClient(cl), victim, "orders", 0, 9) // the repaired partition takes writes
	d.Stop()
}

func commitOffset(t *testing.T, adm *kadm.Client, groupID, topic string, p int32, off int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: p, At: off, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, groupID, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit %s: %v", groupID, err)
	}
}

func listOffsetCode(rc *rawConn, topic string, p int32) int16 {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 4
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return rc.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode
}

func findCoordinator(rc *rawConn, groupID string) int16 {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 2
	req.CoordinatorKey = groupID
	return rc.roundTrip(req).(*kmsg.FindCoordinatorResponse).ErrorCode
}

func flipByteAt(t *testing.T, path string, at int64) {
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

var httpListening = regexp.MustCompile(`msg="http listening" addr=(\S+)`)

// httpAddr is the address the daemon's HTTP listener logged.
func httpAddr(t *testing.T, d *daemon) string {
	t.Helper()
	var addr string
	waitFor(t, "the http listening line", startTimeout, func() bool {
		if m := httpListening.FindStringSubmatch(d.Stderr()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}

func httpGetBody(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: ioTimeout}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runSluice runs the sluice CLI and returns its exit status and output.
func runSluice(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, sluiceBin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("sluice %v: %v", args, err)
	}
	return 0, string(out)
}
