package broker

// Configs with a controller: AlterConfigs and IncrementalAlterConfigs of
// TOPIC and BROKER resources are validated by the broker that receives
// them (the same checks and error codes as without a controller; a topic
// this broker's image lacks is looked for again after a read barrier,
// catchUpMetadata, since the controller may have committed it a moment
// ago, as CreateTopics answers once it has), then
// become Config records through the active controller: straight to it
// when this node leads the quorum, else forwarded to the leader's broker
// listener as an IncrementalAlterConfigs v1 of SET and DELETE ops (the
// difference between the image's configs and the result), as Kafka
// forwards them. The answer waits until this broker's reconciler has
// applied an image holding the result (reconcile.go), so DescribeConfigs
// on the broker asked shows it. Every broker applies the records to its
// logs from its reconciler; ValidateOnly answers without a decision.
//
// BROKER resources: "" is the cluster-wide default (resource name "" in
// the image), a node id that node's dynamic configs (resource name the
// id); with a controller any registered node's id is accepted, since a
// forwarded change for node 2 reaches the controller on another node.

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/metadata"
)

// alterConfigsCluster edits one resource's configs as the image holds
// them, validates the result and, unless validateOnly, commits the
// difference through the active controller.
func (b *Broker) alterConfigsCluster(typ int8, name string, validateOnly bool, edit func(map[string]string) error) error {
	if err := b.awaitReady(clusterWait); err != nil {
		return err
	}
	ctl := b.cl.ctl
	im := ctl.Image()
	if typ == metadata.ResourceTopic {
		if _, ok := im.Topic(name); !ok {
			im = b.catchUpMetadata()
		}
		if _, ok := im.Topic(name); !ok {
			return newAPIError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
		}
	}
	cur := im.Configs(typ, name)
	next := maps.Clone(cur)
	if next == nil {
		next = map[string]string{}
	}
	if err := edit(next); err != nil {
		return err
	}
	if err := b.checkConfigsResult(typ, name, next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	changes := map[string]*string{}
	for k, v := range next {
		if old, ok := cur[k]; !ok || old != v {
			changes[k] = &v
		}
	}
	for k := range cur {
		if _, ok := next[k]; !ok {
			changes[k] = nil
		}
	}
	if len(changes) == 0 {
		return nil
	}
	if ctl.IsLeader() {
		if err := ctl.SetConfigs(typ, name, changes); err != nil {
			return ctlTopicError(err, name)
		}
	} else if err := b.forwardConfigs(typ, name, changes); err != nil {
		return err
	}
	b.log.Info("configs changed through the controller", "type", typ, "resource", name, "configs", next)
	if !b.cl.rec.awaitApplied(time.Now().Add(clusterWait), func(im *metadata.Image) bool {
		return maps.Equal(im.Configs(typ, name), next)
	}) {
		b.log.Warn("a committed change is not applied on this broker yet", "change", "alter configs", "resource", name)
	}
	return nil
}

// catchUpMetadata is a read barrier: it brings this node's image up to
// the active controller's commit index (DescribeQuorum's high watermark,
// asked of the leader) and returns the image. A topic the controller has
// committed, which CreateTopics answers after, is then in it. Should the
// leader not answer or this node not catch up within peerTimeout, the
// image is returned as it is (and the error logged).
func (b *Broker) catchUpMetadata() *metadata.Image {
	ctl := b.cl.ctl
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	index, err := b.leaderCommitIndex(ctx)
	if err == nil {
		err = ctl.CatchUp(ctx, index)
	}
	if err != nil {
		b.log.Warn("cannot bring the metadata image up to the controller's", "err", err)
	}
	return ctl.Image()
}

// leaderCommitIndex is the active controller's metadata commit index.
func (b *Broker) leaderCommitIndex(ctx context.Context) (uint64, error) {
	ctl := b.cl.ctl
	if ctl.IsLeader() {
		return ctl.CommitIndex(), nil
	}
	addr, err := b.leaderAddr(ctl)
	if err != nil {
		return 0, fmt.Errorf("no active controller is known: %w", err)
	}
	req := kmsg.NewPtrDescribeQuorumRequest()
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if err := b.callPeer(ctx, addr, forwardedClientID, req, resp); err != nil {
		return 0, fmt.Errorf("cannot ask the active controller at %s its commit index: %w", addr, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, fmt.Errorf("DescribeQuorum at %s: %w", addr, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("DescribeQuorum at %s answered %d topics", addr, len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return 0, fmt.Errorf("DescribeQuorum at %s: %w", addr, err)
	}
	if p.HighWatermark < 0 {
		return 0, fmt.Errorf("DescribeQuorum at %s: high watermark %d", addr, p.HighWatermark)
	}
	return uint64(p.HighWatermark), nil
}

// checkConfigsResult validates a resource's whole new config set.
func (b *Broker) checkConfigsResult(typ int8, name string, next map[string]string) error {
	if typ == metadata.ResourceTopic {
		_, err := checkTopicConfigs(b.topics.defaults.get(), next)
		return err
	}
	dyn := b.topics.defaults.dynamic()
	if name == "" {
		dyn.Cluster = next
	} else {
		dyn.Node = next
	}
	_, err := buildDefaults(b.topics.defaults.static, dyn)
	return err
}

// forwardConfigs sends the changes to the active controller's broker.
func (b *Broker) forwardConfigs(typ int8, name string, changes map[string]*string) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version = 1
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(typ), name
	for k, v := range changes {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = k, v, kmsg.IncrementalAlterConfigOpSet
		if v == nil {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		}
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	if err := b.forward(req, resp); err != nil {
		return err
	}
	if len(resp.Resources) != 1 {
		return newAPIError(kerr.UnknownServerError, "The controller answered %d resources.", len(resp.Resources))
	}
	return forwardedError(resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage)
}

// checkClusterBrokerName accepts the id of a node registered in the image.
func (b *Broker) checkClusterBrokerName(name string) error {
	id, err := strconv.ParseInt(name, 10, 32)
	if err == nil {
		if _, ok := b.cl.ctl.Image().Broker(int32(id)); ok {
			return nil
		}
	}
	return newAPIError(kerr.InvalidRequest, "Unexpected broker id, expected a registered broker or empty string, but received %s", name)
}

// brokerResourceName is the image's resource name of a node's dynamic
// broker configs.
func brokerResourceName(id int32) string { return strconv.FormatInt(int64(id), 10) }
