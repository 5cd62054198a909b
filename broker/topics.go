package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/partition"
)

// Topic errors (mapped in errors.go).
var (
	errInvalidTopic      = errors.New("broker: invalid topic name")
	errTopicExists       = errors.New("broker: topic already exists")
	errUnknownTopic      = errors.New("broker: unknown topic")
	errInvalidPartitions = errors.New("broker: invalid partition count")
	errInvalidConfig     = errors.New("broker: invalid topic config")
)

// maxTopicNameLen is Kafka's limit (249: room for the partition suffix and
// the "-delete" rename inside a 255-byte file name).
const maxTopicNameLen = 249

// topic is one topic: immutable once published; changes replace it.
type topic struct {
	name       string
	id         [16]byte
	partitions []*partition.Log  // nil: offline (the store could not open it)
	configs    map[string]string // overrides of the broker's defaults
}

// missingCode is the error code for partition p when t.partition(p) is nil:
// KAFKA_STORAGE_ERROR for an offline partition, UNKNOWN_TOPIC_OR_PARTITION
// for one that does not exist.
func (t *topic) missingCode(p int32) int16 {
	if t != nil && p >= 0 && int(p) < len(t.partitions) && t.partitions[p] == nil {
		return kerr.KafkaStorageError.Code
	}
	return kerr.UnknownTopicOrPartition.Code
}

// internal reports whether the topic is internal (Metadata's IsInternal):
// names starting with "__" (__consumer_offsets, __transaction_state).
func (t *topic) internal() bool { return isInternalTopic(t.name) }

func isInternalTopic(name string) bool { return len(name) >= 2 && name[:2] == "__" }

// partition returns partition p or nil.
func (t *topic) partition(p int32) *partition.Log {
	if p < 0 || int(p) >= len(t.partitions) {
		return nil
	}
	return t.partitions[p]
}

// topics is the topic registry. Lookups take the read lock; create, delete
// and add-partitions are serialised by writeMu (held across store calls, so
// never taken by the data path) and publish under mu.
type topics struct {
	store    *partition.Store
	defaults *brokerDefaults // static and dynamic broker defaults (dynconfig.go)
	log      *slog.Logger

	writeMu sync.Mutex // serialises changes; taken before mu
	// afterStep, if set (tests), runs after each file step of a topic
	// creation or deletion (topicops.go); an error stops it there.
	afterStep func(step string) error
	mu        struct {
		sync.RWMutex
		byName map[string]*topic
		byID   map[[16]byte]*topic
	}
}

// loadTopics finishes an interrupted topic operation, then builds the
// registry from the store's logs (and offline partitions) and the persisted
// config overrides.
func loadTopics(store *partition.Store, defaults partition.Config, logger *slog.Logger) (*topics, error) {
	ts := &topics{store: store, defaults: newBrokerDefaults(defaults), log: logger}
	ts.mu.byName = map[string]*topic{}
	ts.mu.byID = map[[16]byte]*topic{}
	if err := ts.finishPendingOp(); err != nil {
		return nil, err
	}
	configs, err := readTopicConfigs(store.Dir())
	if err != nil {
		return nil, err
	}
	for _, t := range buildTopics(store, logger) {
		t.configs = configs[t.name]
		ts.mu.byName[t.name] = t
		ts.mu.byID[t.id] = t
	}
	for name, cfg := range configs {
		if t := ts.mu.byName[name]; t != nil {
			if err := ts.applyConfigs(t, cfg); err != nil {
				return nil, fmt.Errorf("broker: topic %q: %w", name, err)
			}
		}
	}
	return ts, nil
}

// buildTopics groups the store's partitions into topics. A partition that
// is offline, missing (a gap) or carries another topic id is left nil
// (offline) with an ERROR: one bad partition never keeps the broker down.
func buildTopics(store *partition.Store, logger *slog.Logger) []*topic {
	type slot struct {
		l  *partition.Log
		id [16]byte
	}
	byTopic := map[string]map[int32]slot{}
	add := func(name string, p int32, s slot) {
		if byTopic[name] == nil {
			byTopic[name] = map[int32]slot{}
		}
		byTopic[name][p] = s
	}
	for _, l := range store.Logs() {
		add(l.Topic(), l.Partition(), slot{l, l.TopicID()})
	}
	for _, o := range store.Offline() {
		add(o.Topic, o.Partition, slot{nil, o.TopicID})
	}
	var out []*topic
	for name, parts := range byTopic {
		t := &topic{name: name}
		n := int32(0)
		for p := range parts {
			n = max(n, p+1)
		}
		for p := range n { // the lowest partition's id names the topic
			if s, ok := parts[p]; ok && s.id != [16]byte{} {
				t.id = s.id
				break
			}
		}
		for p := range n {
			s, ok := parts[p]
			switch {
			case !ok:
				logger.Error("partition directory missing: partition offline", "topic", name, "partition", p)
			case s.l != nil && s.id != t.id:
				logger.Error("partition has another topic id: partition offline", "topic", name, "partition", p,
					"topic_id", fmt.Sprintf("%x", s.id), "expected", fmt.Sprintf("%x", t.id))
				s.l = nil
			}
			t.partitions = append(t.partitions, s.l)
		}
		out = append(out, t)
	}
	return out
}

// applyConfigs sets every partition's config to the defaults plus overrides.
func (ts *topics) applyConfigs(t *topic, overrides map[string]string) error {
	cfg, err := logConfig(ts.defaults.get(), overrides)
	if err != nil {
		return err
	}
	for _, l := range t.partitions {
		if l == nil {
			continue // offline
		}
		if err := l.SetConfig(cfg); err != nil {
			return fmt.Errorf("cannot set config of partition %d: %w", l.Partition(), err)
		}
	}
	return nil
}

// get returns the topic or nil.
func (ts *topics) get(name string) *topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.mu.byName[name]
}

// getByID returns the topic or nil.
func (ts *topics) getByID(id [16]byte) *topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.mu.byID[id]
}

// all returns every topic sorted by name.
func (ts *topics) all() []*topic {
	ts.mu.RLock()
	out := make([]*topic, 0, len(ts.mu.byName))
	for _, t := range ts.mu.byName {
		out = append(out, t)
	}
	ts.mu.RUnlock()
	slices.SortFunc(out, func(a, b *topic) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return out
}

func (ts *topics) count() int {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return len(ts.mu.byName)
}

// validateTopicName applies Kafka's rules: 1-249 characters of
// [a-zA-Z0-9._-], and not "." or "..".
func validateTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxTopicNameLen {
		return fmt.Errorf("%w: %q", errInvalidTopic, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q has illegal character %q", errInvalidTopic, name, c)
		}
	}
	return nil
}

// collisionKey is Kafka's metric-name collision rule: "a.b" and "a_b"
// cannot both exist.
func collisionKey(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '.' {
			b[i] = '_'
		}
	}
	return string(b)
}

// createTopic creates a topic with n partitions and config overrides.
func (ts *topics) createTopic(name string, n int32, configs map[string]string) (*topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if n <= 0 || n > maxPartitions {
		return nil, fmt.Errorf("%w: %d", errInvalidPartitions, n)
	}
	cfg, err := logConfig(ts.defaults.get(), configs)
	if err != nil {
		return nil, err
	}
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	if err := ts.checkNewName(name); err != nil {
		return nil, err
	}
	t := &topic{name: name, id: newUUID(), configs: maps.Clone(configs)}
	op := topicOp{Op: "create", Topic: name, TopicID: hex.EncodeToString(t.id[:]), Partitions: n, Configs: configs}
	if err := ts.beginOp(op); err != nil {
		return nil, err
	}
	logs, err := ts.store.CreateLogs(name, 0, n, t.id, cfg, ts.partitionStep("created"))
	if errors.Is(err, errStepStop) {
		return nil, err
	}
	if err != nil {
		return nil, ts.abortCreate(name, n, fmt.Errorf("broker: cannot create %s: %w", name, err))
	}
	t.partitions = logs
	if len(configs) > 0 {
		if err := ts.persistConfigsLocked(name, configs); err != nil {
			return nil, ts.abortCreate(name, n, err)
		}
		if err := ts.step("configs written"); err != nil {
			return nil, err
		}
	}
	if err := ts.endOp(); err != nil {
		return nil, ts.abortCreate(name, n, err)
	}
	ts.publish(t)
	ts.log.Info("topic created", "topic", name, "partitions", n, "configs", configs)
	return t, nil
}

// abortCreate undoes a failed creation of partitions [0, n) and returns
// err. If that fails too, the pending operation stays recorded and the
// next start finishes or rolls it back.
func (ts *topics) abortCreate(name string, n int32, err error) error {
	if ts.dropLogs(name, n) {
		if cfgErr := ts.persistConfigsLocked(name, nil); cfgErr != nil {
			ts.log.Error("cannot remove the configs of a failed topic creation", "topic", name, "err", cfgErr)
			return err // the recorded operation is rolled back at the next start
		}
		if endErr := ts.endOp(); endErr != nil {
			ts.log.Error("cannot clear the topic operation record", "topic", name, "err", endErr)
		}
	}
	return err
}

// maxPartitions bounds one topic's partition count (a typo guard; each
// partition holds open files).
const maxPartitions = 10000

// checkNewName rejects an existing or colliding name. writeMu held.
func (ts *topics) checkNewName(name string) error {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	if ts.mu.byName[name] != nil {
		return fmt.Errorf("%w: %q", errTopicExists, name)
	}
	key := collisionKey(name)
	for other := range ts.mu.byName {
		if collisionKey(other) == key {
			return fmt.Errorf("%w: %q collides with %q", errInvalidTopic, name, other)
		}
	}
	return nil
}

// dropLogs deletes partitions [0, n) of a half-created topic; false if
// any could not be removed.
func (ts *topics) dropLogs(name string, n int32) bool {
	if err := ts.store.DeleteLogs(name, partitionRange(n), nil); err != nil {
		ts.log.Error("cannot remove the partitions of a failed topic creation", "topic", name, "err", err)
		return false
	}
	return true
}

// partitionRange is [0, n) descending.
func partitionRange(n int32) []int32 {
	out := make([]int32, 0, n)
	for p := n - 1; p >= 0; p-- {
		out = append(out, p)
	}
	return out
}

// publish makes t visible (replacing any topic of that name).
func (ts *topics) publish(t *topic) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if old := ts.mu.byName[t.name]; old != nil {
		delete(ts.mu.byID, old.id)
	}
	ts.mu.byName[t.name] = t
	ts.mu.byID[t.id] = t
}

// deleteTopic removes a topic and its logs.
func (ts *topics) deleteTopic(name string) error {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	t := ts.get(name)
	if t == nil {
		return fmt.Errorf("%w: %q", errUnknownTopic, name)
	}
	n := int32(len(t.partitions))
	if err := ts.beginOp(topicOp{Op: "delete", Topic: name, TopicID: hex.EncodeToString(t.id[:]), Partitions: n}); err != nil {
		return err
	}
	ts.mu.Lock()
	delete(ts.mu.byName, name)
	delete(ts.mu.byID, t.id)
	ts.mu.Unlock()
	if len(t.configs) > 0 {
		if err := ts.persistConfigsLocked(name, nil); err != nil {
			return err // recorded: the next start finishes the delete
		}
		if err := ts.step("configs removed"); err != nil {
			return err
		}
	}
	err := ts.store.DeleteLogs(name, partitionRange(n), ts.partitionStep("deleted"))
	if errors.Is(err, errStepStop) {
		return err
	}
	if err != nil {
		return fmt.Errorf("broker: cannot delete %s (the next start finishes it): %w", name, err)
	}
	ts.log.Info("topic deleted", "topic", name, "partitions", n)
	return ts.endOp()
}

// addPartitions grows a topic to total partitions (CreatePartitions).
func (ts *topics) addPartitions(name string, total int32) (*topic, error) {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	t := ts.get(name)
	if t == nil {
		return nil, fmt.Errorf("%w: %q", errUnknownTopic, name)
	}
	have := int32(len(t.partitions))
	if total <= have || total > maxPartitions {
		return nil, fmt.Errorf("%w: topic %q has %d partitions, asked for %d", errInvalidPartitions, name, have, total)
	}
	cfg, err := logConfig(ts.defaults.get(), t.configs)
	if err != nil {
		return nil, err
	}
	op := topicOp{Op: "add", Topic: name, TopicID: hex.EncodeToString(t.id[:]), From: have, Partitions: total}
	if err := ts.beginOp(op); err != nil {
		return nil, err
	}
	logs, err := ts.store.CreateLogs(name, have, total, t.id, cfg, ts.partitionStep("added"))
	if errors.Is(err, errStepStop) {
		return nil, err
	}
	if err == nil {
		err = ts.endOp()
	}
	if err != nil {
		if derr := ts.store.DeleteLogs(name, addedRange(have, total), nil); derr == nil {
			ts.endOp()
		}
		return nil, fmt.Errorf("broker: cannot add partitions to %s: %w", name, err)
	}
	nt := &topic{name: name, id: t.id, configs: t.configs, partitions: append(slices.Clone(t.partitions), logs...)}
	ts.publish(nt)
	return nt, nil
}

// addedRange is [from, to) descending.
func addedRange(from, to int32) []int32 {
	out := make([]int32, 0, max(to-from, 0))
	for p := to - 1; p >= from; p-- {
		out = append(out, p)
	}
	return out
}

// setConfigs replaces a topic's overrides (AlterConfigs) and applies them.
func (ts *topics) setConfigs(name string, configs map[string]string) error {
	if _, err := logConfig(ts.defaults.get(), configs); err != nil {
		return err
	}
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	t := ts.get(name)
	if t == nil {
		return fmt.Errorf("%w: %q", errUnknownTopic, name)
	}
	if err := ts.persistConfigsLocked(name, configs); err != nil {
		return err
	}
	nt := &topic{name: name, id: t.id, partitions: t.partitions, configs: maps.Clone(configs)}
	if err := ts.applyConfigs(nt, configs); err != nil {
		return err
	}
	ts.publish(nt)
	return nil
}

// persistConfigsLocked rewrites topic-configs.json with name's overrides
// replaced (nil or empty removes them). writeMu held.
func (ts *topics) persistConfigsLocked(name string, configs map[string]string) error {
	all := map[string]map[string]string{}
	ts.mu.RLock()
	for n, t := range ts.mu.byName {
		if len(t.configs) > 0 {
			all[n] = t.configs
		}
	}
	ts.mu.RUnlock()
	if len(configs) > 0 {
		all[name] = configs
	} else {
		delete(all, name)
	}
	return writeTopicConfigs(ts.store.Dir(), all)
}

// newUUID returns a random (version 4) UUID. Its version bits keep it apart
// from the UUIDs Kafka reserves (all zeros, and one).
func newUUID() [16]byte {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}
