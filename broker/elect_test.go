package broker

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/metadata"
)

// ElectLeaders (API 43) on the controller's broker, with broker 7 kept
// alive by heartbeats: per-partition codes (ELECTION_NOT_NEEDED,
// UNKNOWN_TOPIC_OR_PARTITION, PREFERRED_LEADER_NOT_AVAILABLE while 7 is
// out of the ISR), INVALID_REQUEST for an unknown election type, and a v0
// request with a null topic list electing every partition that needs it.
func TestElectLeadersProtocol(t *testing.T) {
	ts, rc := twoBrokers(t)
	b7, _ := ts.ctl.Image().Broker(7)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { // broker 7's heartbeats; the first after a fence unfences it
		defer close(stopped)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = ts.ctl.Heartbeat(7, b7.Epoch)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-stopped })
	id, err := ts.ctl.CreateTopic("el", 2, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := ts.ctl.Image().TopicByID(id)
	p7 := int32(slices.IndexFunc(ti.Partitions, func(p metadata.Partition) bool { return p.Replicas[0] == 7 }))
	if p7 < 0 {
		t.Fatalf("broker 7 is no partition's preferred leader: %+v", ti.Partitions)
	}
	p1 := 1 - p7
	elect := func(version int16, typ int8, topics map[string][]int32) *kmsg.ElectLeadersResponse {
		t.Helper()
		req := kmsg.NewPtrElectLeadersRequest()
		req.Version, req.ElectionType = version, typ
		for _, name := range []string{"el", "nope"} {
			if ps, ok := topics[name]; ok {
				rt := kmsg.NewElectLeadersRequestTopic()
				rt.Topic, rt.Partitions = name, ps
				req.Topics = append(req.Topics, rt)
			}
		}
		return rc.roundTrip(req).(*kmsg.ElectLeadersResponse)
	}
	codes := func(resp *kmsg.ElectLeadersResponse) map[string]int16 {
		out := map[string]int16{}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out[fmt.Sprintf("%s-%d", rt.Topic, rp.Partition)] = rp.ErrorCode
			}
		}
		return out
	}
	check := func(what string, resp *kmsg.ElectLeadersResponse, top int16, want map[string]int16) {
		t.Helper()
		if got := codes(resp); resp.ErrorCode != top || !maps.Equal(got, want) {
			t.Fatalf("%s: top %d, partitions %v; want %d, %v", what, resp.ErrorCode, got, top, want)
		}
	}
	name := func(p int32) string { return fmt.Sprintf("el-%d", p) }
	nn, unknown := kerr.ElectionNotNeeded.Code, kerr.UnknownTopicOrPartition.Code
	check("preferred leaders lead", elect(2, 0, map[string][]int32{"el": {p7, p1, 9}, "nope": {0}}), 0,
		map[string]int16{name(p7): nn, name(p1): nn, "el-9": unknown, "nope-0": unknown})
	bad := kerr.InvalidRequest.Code
	check("election type 5", elect(1, 5, map[string][]int32{"el": {p7}}), bad, map[string]int16{name(p7): bad})

	// Broker 7 fails: broker 1 leads both partitions; 7 is back (unfenced
	// by its next heartbeat) but out of the ISR.
	if err := ts.ctl.FenceBroker(7); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := ts.ctl.Image().Broker(7)
		ti, _ = ts.ctl.Image().TopicByID(id)
		if !b.Fenced && ti.Partitions[p7].Leader == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker 7 not back unfenced: %+v, %+v", b, ti.Partitions[p7])
		}
		time.Sleep(10 * time.Millisecond) // polling the image, bounded by the deadline
	}
	check("preferred leader out of the ISR", elect(2, 0, map[string][]int32{"el": {p7}}), 0,
		map[string]int16{name(p7): kerr.PreferredLeaderNotAvailable.Code})
	check("unclean with a live leader", elect(2, 1, map[string][]int32{"el": {p7}}), 0, map[string]int16{name(p7): nn})

	// 7 rejoins the ISR: a v0 request for every partition (null) elects it
	// and answers only that partition.
	before := ti.Partitions[p7]
	b1, _ := ts.ctl.Image().Broker(1)
	if _, err := ts.ctl.AlterPartition(1, b1.Epoch, id, p7, before.LeaderEpoch, before.PartitionEpoch, []int32{1, 7}); err != nil {
		t.Fatal(err)
	}
	check("every partition (v0, null)", elect(0, 0, nil), 0, map[string]int16{name(p7): 0})
	ti, _ = ts.ctl.Image().TopicByID(id)
	if got := ti.Partitions[p7]; got.Leader != 7 || got.LeaderEpoch != before.LeaderEpoch+1 {
		t.Fatalf("after the election: %+v (before %+v)", got, before)
	}
}
