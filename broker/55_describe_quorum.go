package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/netio"
)

// DescribeQuorum: v0-2
//
// Behavior:
// * Describes the controller quorum's metadata log, __cluster_metadata
//   partition 0 (whatever topics the request names, as Kafka answers only
//   that partition): LeaderID the Raft leader, LeaderEpoch its term,
//   HighWatermark the commit index; CurrentVoters each voter with its log
//   end offset (the leader's own last index; the others' metadata offset
//   from their last broker heartbeat, -1 before one) and, v1+,
//   LastFetchTimestamp and LastCaughtUpTimestamp (that heartbeat's time,
//   -1 for the leader or unknown); Observers the brokers that heartbeat and
//   are not voters. Offsets are Raft log indexes.
// * Only the leader knows the others' offsets: a node that is not the
//   leader forwards the request to the leader's broker listener once and
//   relays its answer; with no leader known, or no controller on this
//   node, the partition's error is NOT_LEADER_OR_FOLLOWER (6).
// * v2: Nodes lists each voter's CONTROLLER listener; ReplicaDirectoryID
//   is zero (no directory ids).

func init() { register(55, 0, 2, handleDescribeQuorum) }

// forwardedClientID marks a request a node forwarded, so that the
// receiver answers it itself rather than forwarding again.
const forwardedClientID = "sluice-forwarded"

func handleDescribeQuorum(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if resp.ErrorCode = b.denied(r, &chkDescQuorum, ""); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	if b.cl != nil && !b.cl.ctl.IsLeader() && (r.clientID == nil || *r.clientID != forwardedClientID) {
		if addr, err := b.leaderAddr(b.cl.ctl); err == nil {
			fwd := *req
			fresp := fwd.ResponseKind().(*kmsg.DescribeQuorumResponse)
			if err := b.callPeer(ctx, addr, forwardedClientID, &fwd, fresp); err == nil {
				fresp.Version = r.version
				return r.respond(fresp), nil
			}
		}
	}
	part := kmsg.NewDescribeQuorumResponseTopicPartition()
	if b.cl == nil {
		part.ErrorCode, part.LeaderID = kerr.NotLeaderForPartition.Code, -1
	} else if q, err := b.cl.ctl.Quorum(); err != nil || q.LeaderID != b.cfg.NodeID {
		part.ErrorCode, part.LeaderID = kerr.NotLeaderForPartition.Code, q.LeaderID
		if err != nil {
			part.LeaderID = -1
		}
	} else {
		fillQuorum(&part, q)
		resp.Nodes = quorumNodes(q)
	}
	topic := kmsg.NewDescribeQuorumResponseTopic()
	topic.Topic = "__cluster_metadata"
	topic.Partitions = []kmsg.DescribeQuorumResponseTopicPartition{part}
	resp.Topics = []kmsg.DescribeQuorumResponseTopic{topic}
	return r.respond(resp), nil
}

func fillQuorum(part *kmsg.DescribeQuorumResponseTopicPartition, q controller.QuorumInfo) {
	part.LeaderID, part.LeaderEpoch, part.HighWatermark = q.LeaderID, q.LeaderEpoch, int64(q.HighWatermark)
	part.CurrentVoters = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}
	part.Observers = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}
	for _, st := range q.States {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = st.ID, st.LogEndOffset
		if st.ID != q.LeaderID && !st.LastSeen.IsZero() {
			rs.LastFetchTimestamp = st.LastSeen.UnixMilli()
			rs.LastCaughtUpTimestamp = st.LastSeen.UnixMilli()
		}
		if st.Voter {
			part.CurrentVoters = append(part.CurrentVoters, rs)
		} else {
			part.Observers = append(part.Observers, rs)
		}
	}
}

// quorumNodes lists the voters' CONTROLLER listeners (v2 Nodes).
func quorumNodes(q controller.QuorumInfo) []kmsg.DescribeQuorumResponseNode {
	var out []kmsg.DescribeQuorumResponseNode
	for _, v := range q.Voters {
		host, port, ok := splitHostPort(v.Addr)
		if !ok {
			continue
		}
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = v.ID
		l := kmsg.NewDescribeQuorumResponseNodeListener()
		l.Name, l.Host, l.Port = "CONTROLLER", host, port
		n.Listeners = []kmsg.DescribeQuorumResponseNodeListener{l}
		out = append(out, n)
	}
	return out
}
