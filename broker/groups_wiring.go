package broker

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// The group coordinator of a Broker lives in Broker.gr. New opens it when
// __consumer_offsets already exists (so groups and offsets are loaded at
// start-up); otherwise the first group request creates the topic and opens
// it, as Kafka creates __consumer_offsets on first use.

// groupsEntry is one broker's group coordinator (coordentry.go).
type groupsEntry = coordEntry[*group.Coordinator, group.Config]

// errGroupsClosed: the broker is shutting down.
var errGroupsClosed = errors.New("broker: group coordinator closed")

func (b *Broker) groupsEntry() *groupsEntry { return &b.gr }

// loadGroups opens the coordinator at start-up if __consumer_offsets exists.
func (b *Broker) loadGroups() error {
	if b.topics.get(group.TopicName) == nil {
		return nil
	}
	_, err := b.groups()
	return err
}

// groups returns the broker's group coordinator, opening it on first use.
func (b *Broker) groups() (*group.Coordinator, error) {
	_ = b.awaitReady(startWait) // in a cluster: __consumer_offsets follows the image
	return b.groupsEntry().get(errGroupsClosed, func(cfg group.Config) (func() (*group.Coordinator, error), error) {
		if cfg.Logger == nil {
			cfg.Logger = b.log
		}
		cfg.LoadOnElection = b.cl != nil // coordinators.go
		t, err := b.offsetsTopic(cfg)    // not under the entry's mu (coordentry.go)
		if err != nil {
			return nil, err
		}
		return func() (*group.Coordinator, error) {
			c, err := group.Open(cfg, t.partitions)
			if err != nil {
				return nil, fmt.Errorf("broker: cannot open group coordinator: %w", err)
			}
			if b.cl != nil {
				b.electOn(group.TopicName, c.Elect, c.Resign)
			}
			return c, nil
		}, nil
	})
}

// closeGroups closes the broker's coordinator (answering long-polls with
// NOT_COORDINATOR); later group requests get COORDINATOR_NOT_AVAILABLE.
// Idempotent. Belongs in Broker.Close, and before the listener's drain in
// Server.Shutdown so that blocked JoinGroups end at once.
func (b *Broker) closeGroups() error {
	e := b.groupsEntry()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	if e.c == nil {
		return nil
	}
	c := e.c
	e.c = nil
	e.cfg = group.Config{} // drop the logger and clock references
	return c.Close()
}

// offsetsTopic returns __consumer_offsets, creating it compacted (the log
// cleaner bounds it), with no time retention and room for large commits.
// An existing topic that is not compacted (made before compaction
// existed) is switched to cleanup.policy=compact.
func (b *Broker) offsetsTopic(cfg group.Config) (*topic, error) {
	if t := b.topics.get(group.TopicName); t != nil {
		return t, b.compactOffsetsTopic(t)
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = group.DefaultConfig().Partitions
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = group.DefaultConfig().SegmentBytes
	}
	configs := map[string]string{
		"cleanup.policy":    "compact",
		"segment.bytes":     strconv.FormatInt(cfg.SegmentBytes, 10),
		"retention.ms":      "-1",
		"max.message.bytes": strconv.Itoa(64 << 20),
	}
	t, existed, err := b.createInternalTopic(group.TopicName, cfg.Partitions, configs)
	if err != nil {
		return nil, err
	}
	if existed {
		return t, b.compactOffsetsTopic(t)
	}
	return t, nil
}

// createInternalTopic creates one of the coordinators' topics, or, when
// it exists, returns it once this broker has applied it (existed).
// Brokers open their coordinators at once when a cluster starts, so
// another broker often creates the topic first, and the controller's
// "already exists" can come before the image that holds the topic
// reaches this broker: it waits for that image, up to clusterWait, where
// it answered COORDINATOR_NOT_AVAILABLE and logged an error before.
func (b *Broker) createInternalTopic(name string, n int32, configs map[string]string) (t *topic, existed bool, err error) {
	t, err = b.createTopicAny(name, n, b.offsetsReplicationFactor(), configs, clusterWait)
	if errors.Is(err, errTopicExists) || codeOf(err) == kerr.TopicAlreadyExists.Code {
		existed = true
		t, err = b.awaitTopic(name, time.Now().Add(clusterWait), func(t *topic) bool {
			return t != nil && (b.cl == nil || t.meta != nil)
		})
	}
	if err != nil {
		return nil, existed, fmt.Errorf("broker: cannot create %s: %w", name, err)
	}
	return t, existed, nil
}

// compactOffsetsTopic sets cleanup.policy=compact on t unless its policy
// already compacts.
func (b *Broker) compactOffsetsTopic(t *topic) error {
	if strings.Contains(t.configs["cleanup.policy"], "compact") {
		return nil
	}
	configs := maps.Clone(t.configs)
	if configs == nil {
		configs = map[string]string{}
	}
	configs["cleanup.policy"] = "compact"
	if err := b.topics.setConfigs(t.name, configs); err != nil {
		return fmt.Errorf("broker: cannot switch %s to cleanup.policy=compact: %w", group.TopicName, err)
	}
	b.log.Info("switched __consumer_offsets to cleanup.policy=compact")
	return nil
}

// coordinatorOr returns the coordinator, logging why it is unavailable.
func (b *Broker) coordinatorOr() *group.Coordinator {
	c, err := b.groups()
	if err != nil {
		if !errors.Is(err, errGroupsClosed) {
			b.log.Error("group coordinator unavailable", "err", err)
		}
		return nil
	}
	return c
}

// clientHost is how Kafka shows a member's host: "/" and the peer's IP.
func clientHost(c *netio.Conn) string {
	if c == nil || c.RemoteAddr() == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return "/" + c.RemoteAddr().String()
	}
	return "/" + host
}

func clientIDOf(r *request) string {
	if r.clientID == nil {
		return ""
	}
	return *r.clientID
}

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

// partitionExists reports whether topic has partition p.
func (b *Broker) partitionExists(topicName string, p int32) bool {
	t := b.topics.get(topicName)
	if t != nil && t.meta != nil { // in a cluster: any broker may lead it
		return p >= 0 && int(p) < len(t.meta.Partitions)
	}
	return t != nil && t.partition(p) != nil
}
