package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

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
	partitions []*partition.Log
	configs    map[string]string // overrides of the broker's defaults
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
	mu      struct {
		sync.RWMutex
		byName map[string]*topic
		byID   map[[16]byte]*topic
	}
}

// loadTopics builds the registry from the store's logs and the persisted
// config overrides.
func loadTopics(store *partition.Store, defaults partition.Config, logger *slog.Logger) (*topics, error) {
	ts := &topics{store: store, defaults: newBrokerDefaults(defaults), log: logger}
	ts.mu.byName = map[string]*topic{}
	ts.mu.byID = map[[16]byte]*topic{}
	configs, err := readTopicConfigs(store.Dir())
	if err != nil {
		return nil, err
	}
	for _, l := range store.Logs() { // sorted by topic, partition
		t := ts.mu.byName[l.Topic()]
		if t == nil {
			t = &topic{name: l.Topic(), id: l.TopicID(), configs: configs[l.Topic()]}
			ts.mu.byName[t.name] = t
			ts.mu.byID[t.id] = t
		}
		if int(l.Partition()) != len(t.partitions) {
			return nil, fmt.Errorf("broker: topic %q: partition %d found where %d expected (missing partition directory?)",
				t.name, l.Partition(), len(t.partitions))
		}
		if l.TopicID() != t.id {
			return nil, fmt.Errorf("broker: topic %q: partition %d has topic id %x, partition 0 has %x",
				t.name, l.Partition(), l.TopicID(), t.id)
		}
		t.partitions = append(t.partitions, l)
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

// applyConfigs sets every partition's config to the defaults plus overrides.
func (ts *topics) applyConfigs(t *topic, overrides map[string]string) error {
	cfg, err := logConfig(ts.defaults.get(), overrides)
	if err != nil {
		return err
	}
	for _, l := range t.partitions {
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
	for p := range n {
		l, err := ts.store.Create(name, p, t.id, cfg)
		if err != nil {
			ts.dropLogs(name, p)
			return nil, fmt.Errorf("broker: cannot create %s-%d: %w", name, p, err)
		}
		t.partitions = append(t.partitions, l)
	}
	if len(configs) > 0 {
		if err := ts.persistConfigsLocked(name, configs); err != nil {
			ts.dropLogs(name, n)
			return nil, err
		}
	}
	ts.publish(t)
	ts.log.Info("topic created", "topic", name, "partitions", n, "configs", configs)
	return t, nil
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

// dropLogs deletes partitions [0, n) of a half-created topic.
func (ts *topics) dropLogs(name string, n int32) {
	for p := range n {
		if err := ts.store.Delete(name, p); err != nil {
			ts.log.Error("cannot remove partition of failed topic creation", "topic", name, "partition", p, "err", err)
		}
	}
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
	ts.mu.Lock()
	delete(ts.mu.byName, name)
	delete(ts.mu.byID, t.id)
	ts.mu.Unlock()
	var errs []error
	for _, l := range t.partitions {
		if err := ts.store.Delete(name, l.Partition()); err != nil {
			errs = append(errs, fmt.Errorf("broker: cannot delete %s-%d: %w", name, l.Partition(), err))
		}
	}
	if len(t.configs) > 0 {
		errs = append(errs, ts.persistConfigsLocked(name, nil))
	}
	ts.log.Info("topic deleted", "topic", name)
	return errors.Join(errs...)
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
	nt := &topic{name: name, id: t.id, configs: t.configs, partitions: slices.Clone(t.partitions)}
	for p := have; p < total; p++ {
		l, err := ts.store.Create(name, p, t.id, cfg)
		if err != nil {
			return nil, fmt.Errorf("broker: cannot create %s-%d: %w", name, p, err)
		}
		nt.partitions = append(nt.partitions, l)
	}
	ts.publish(nt)
	return nt, nil
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
