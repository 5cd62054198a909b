package broker

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
)

// AlterPartition (API 56) on the active controller's broker: the
// partition leader's ISR change is committed; stale epochs, a sender that
// does not lead, unknown topics and ineligible replicas get Kafka's codes.
func TestAlterPartitionErrors(t *testing.T) {
	voters := []controller.Voter{{ID: 1, Addr: "127.0.0.1:0"}} // one voter: nobody dials it
	ts := startServer(t, "", withController(1, voters))
	select {
	case <-ts.Broker().Registered():
	case <-time.After(15 * time.Second):
		t.Fatal("the broker did not register within 15 s")
	}
	// A second broker, 7, registered and unfenced by hand.
	rc := dialRaw(t, ts.addr)
	defer rc.c.Close()
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID, reg.ClusterID, reg.IncarnationID = 7, "sluice-test-cluster", [16]byte{7}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", 9
	reg.Listeners = append(reg.Listeners, l)
	rr := rc.roundTrip(reg).(*kmsg.BrokerRegistrationResponse)
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch = 7, rr.BrokerEpoch
	if r := rc.roundTrip(hb).(*kmsg.BrokerHeartbeatResponse); rr.ErrorCode != 0 || r.ErrorCode != 0 || r.IsFenced {
		t.Fatalf("broker 7: registration %d, heartbeat %+v", rr.ErrorCode, r)
	}
	id, err := ts.ctl.CreateTopic("ap", 1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := ts.ctl.Image().TopicByID(id)
	p := ti.Partitions[0]
	im := ts.ctl.Image()
	leader, other := p.Leader, p.Replicas[0]
	if other == leader {
		other = p.Replicas[1]
	}
	lb, _ := im.Broker(leader)
	ob, _ := im.Broker(other)

	type req struct {
		version        int16
		broker         int32
		brokerEpoch    int64
		topicID        [16]byte
		topic          string
		leaderEpoch    int32
		partitionEpoch int32
		isr            []int32
		isrEpochs      []int64
	}
	send := func(r req) (int16, kmsg.AlterPartitionResponseTopicPartition) {
		t.Helper()
		ar := kmsg.NewPtrAlterPartitionRequest()
		ar.Version, ar.BrokerID, ar.BrokerEpoch = r.version, r.broker, r.brokerEpoch
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.Topic, rt.TopicID = r.topic, r.topicID
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = r.leaderEpoch, r.partitionEpoch, r.isr
		for i, b := range r.isr {
			m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
			m.BrokerID = b
			if i < len(r.isrEpochs) {
				m.BrokerEpoch = r.isrEpochs[i]
			}
			rp.NewEpochISR = append(rp.NewEpochISR, m)
		}
		rt.Partitions = append(rt.Partitions, rp)
		ar.Topics = append(ar.Topics, rt)
		resp := rc.roundTrip(ar).(*kmsg.AlterPartitionResponse)
		if resp.ErrorCode != 0 {
			return resp.ErrorCode, kmsg.AlterPartitionResponseTopicPartition{}
		}
		return 0, resp.Topics[0].Partitions[0]
	}
	ok := req{version: 3, broker: leader, brokerEpoch: lb.Epoch, topicID: id, topic: "ap",
		leaderEpoch: p.LeaderEpoch, partitionEpoch: p.PartitionEpoch, isr: []int32{leader}}
	for _, c := range []struct {
		what string
		edit func(*req)
		want int16
	}{
		{"stale broker epoch", func(r *req) { r.brokerEpoch++ }, kerr.StaleBrokerEpoch.Code},
		{"unknown topic id", func(r *req) { r.topicID = [16]byte{9} }, kerr.UnknownTopicID.Code},
		{"unknown topic name (v0)", func(r *req) { r.version, r.topic = 0, "nope" }, kerr.UnknownTopicOrPartition.Code},
		{"older leader epoch", func(r *req) { r.leaderEpoch-- }, kerr.FencedLeaderEpoch.Code},
		{"not the leader", func(r *req) { r.broker, r.brokerEpoch = other, ob.Epoch }, kerr.InvalidRequest.Code},
		{"stale partition epoch", func(r *req) { r.partitionEpoch-- }, kerr.InvalidUpdateVersion.Code},
		{"non-replica in the ISR", func(r *req) { r.isr = []int32{leader, 5} }, kerr.IneligibleReplica.Code},
		{"stale broker epoch in the ISR (v3)", func(r *req) {
			r.isr, r.isrEpochs = []int32{leader, other}, []int64{lb.Epoch, ob.Epoch + 1}
		}, kerr.IneligibleReplica.Code},
	} {
		r := ok
		r.isr = slices.Clone(ok.isr)
		c.edit(&r)
		if code, sp := send(r); code != c.want && sp.ErrorCode != c.want {
			t.Errorf("%s: top-level %v, partition %v; want %v", c.what, kerr.ErrorForCode(code), kerr.ErrorForCode(sp.ErrorCode), kerr.ErrorForCode(c.want))
		}
	}
	code, sp := send(ok)
	if code != 0 || sp.ErrorCode != 0 || !slices.Equal(sp.ISR, []int32{leader}) || sp.LeaderID != leader ||
		sp.LeaderEpoch != p.LeaderEpoch || sp.PartitionEpoch != p.PartitionEpoch+1 {
		t.Fatalf("shrink to the leader: %v %+v", kerr.ErrorForCode(code), sp)
	}
	ti, _ = ts.ctl.Image().TopicByID(id)
	if got := ti.Partitions[0]; !slices.Equal(got.ISR, []int32{leader}) || got.PartitionEpoch != p.PartitionEpoch+1 {
		t.Fatalf("image after the shrink: %+v", got)
	}
	// The same change again is stale now.
	if code, sp := send(ok); code != 0 || sp.ErrorCode != kerr.InvalidUpdateVersion.Code {
		t.Fatalf("repeated change: %v %v, want INVALID_UPDATE_VERSION", code, sp.ErrorCode)
	}
}
