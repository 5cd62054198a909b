package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/metadata"
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
	partitions []*partition.Log  // nil: offline (the store could not open it), or not a replica here
	configs    map[string]string // overrides of the broker's defaults

	// meta is the topic in the metadata image (reconcile.go), nil on a
	// broker without a controller; self is this broker's id. With meta,
	// partition(p) is the local log only where this broker leads p.
	meta *metadata.TopicImage
	self int32
}

// leads reports whether this broker may serve clients for partition p:
// always without a metadata image, else when the image names it leader.
func (t *topic) leads(p int32) bool {
	return t.meta == nil || int(p) < len(t.meta.Partitions) && t.meta.Partitions[p].Leader == t.self
}

// missingCode is the error code for partition p when t.partition(p) is nil:
// KAFKA_STORAGE_ERROR for an offline partition, UNKNOWN_TOPIC_OR_PARTITION
// for one that does not exist.
func (t *topic) missingCode(p int32) int16 {
	if t != nil && t.meta != nil && p >= 0 && int(p) < len(t.meta.Partitions) && !t.leads(p) {
		return kerr.NotLeaderForPartition.Code
	}
	if t != nil && p >= 0 && int(p) < len(t.partitions) && t.partitions[p] == nil {
		return kerr.KafkaStorageError.Code
	}
	return kerr.UnknownTopicOrPartition.Code
}

// internal reports whether the topic is internal (Metadata's IsInternal):
// names starting with "__" (__consumer_offsets, __transaction_state).
func (t *topic) internal() bool { return isInternalTopic(t.name) }

func isInternalTopic(name string) bool { return len(name) >= 2 && name[:2] == "__" }

// imageEpochCode checks a client's CurrentLeaderEpoch (-1: unchecked)
// against partition p's leader epoch in the metadata image, then clears
// it: the image is the truth (the local log's epoch follows it once the
// reconciler applied the leadership, replication.go), so it is not
// checked again. 0 without an image.
func (t *topic) imageEpochCode(p int32, epoch *int32) int16 {
	if t == nil || t.meta == nil || p < 0 || int(p) >= len(t.meta.Partitions) {
		return 0
	}
	code := checkLeaderEpoch(true, *epoch, t.meta.Partitions[p].LeaderEpoch)
	*epoch = -1
	return code
}

// partition returns partition p or nil.
func (t *topic) partition(p int32) *partition.Log {
	if p < 0 || int(p) >= len(t.partitions) || !t.leads(p) {
		return nil
	}
	return t.partitions[p]
}

// topics is the topic registry. Lookups take the read lock.
//
// Creations, deletions and partition additions of different topics run in
// parallel, their file work under no registry lock: a name is reserved in
// mu.pending (under mu) for the length of its operation, so one big
// creation never holds up another topic's creation, a produce or a
// Metadata. A topic being created is invisible until published whole; a
// topic being deleted is hidden (dropped from byName) before any file
// work, so Metadata and produce stop seeing it at once.
//
// writeMu serialises the writers of topic-configs.json and
// broker-configs.json and the publication of a topic (so a config change
// never races a publication); it is held across those small file writes,
// never across partition creation or deletion, and never by the data path.
// Lock order: writeMu, then mu.
type topics struct {
	store    *partition.Store
	defaults *brokerDefaults // static and dynamic broker defaults (dynconfig.go)
	log      *slog.Logger

	writeMu sync.Mutex // taken before mu
	// configFile is what topic-configs.json holds (writeMu): topics being
	// created or deleted are in it but not in mu.byName.
	configFile map[string]map[string]string
	// afterStep, if set (tests, setAfterStep), runs after each file step of
	// a topic creation or deletion (topicops.go); an error stops it there.
	afterStep atomic.Pointer[func(topic, step string) error]
	// imageOnly hides topics not (yet) from the metadata image: set with
	// a controller once the data directory was taken over (reconcile.go),
	// so a topic a crash left half-made on disk is never served.
	imageOnly atomic.Bool
	// ops counts operations in flight, background ones included; Shutdown
	// waits for them before closing the store.
	ops sync.WaitGroup
	mu  struct {
		sync.RWMutex
		byName  map[string]*topic
		byID    map[[16]byte]*topic
		pending map[string]string // name -> "create", "delete" or "add" in progress
	}
}

// loadTopics finishes an interrupted topic operation, then builds the
// registry from the store's logs (and offline partitions) and the persisted
// config overrides.
func loadTopics(store *partition.Store, defaults partition.Config, logger *slog.Logger) (*topics, error) {
	ts := &topics{store: store, defaults: newBrokerDefaults(defaults), log: logger}
	ts.mu.byName = map[string]*topic{}
	ts.mu.byID = map[[16]byte]*topic{}
	ts.mu.pending = map[string]string{}
	if err := ts.finishPendingOps(); err != nil {
		return nil, err
	}
	configs, err := readTopicConfigs(store.Dir())
	if err != nil {
		return nil, err
	}
	ts.configFile = configs
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
// In a data directory taken over by the metadata log (takeoverFile) a
// missing partition is expected, not an error: one never written has no
// directory (partition.Store.CreateLogsLazy), and the reconciler's first
// pass creates its log again from the image.
func buildTopics(store *partition.Store, logger *slog.Logger) []*topic {
	_, err := os.Stat(filepath.Join(store.Dir(), takeoverFile))
	inImage := err == nil
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
			case !ok && inImage:
				logger.Debug("partition not on disk (never written): its log comes from the metadata image", "topic", name, "partition", p)
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
	return ts.visible(ts.mu.byName[name])
}

// getLocal is get with the topics imageOnly hides (the reconciler).
func (ts *topics) getLocal(name string) *topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.mu.byName[name]
}

// visible returns t, or nil if imageOnly hides it.
func (ts *topics) visible(t *topic) *topic {
	if t != nil && t.meta == nil && ts.imageOnly.Load() {
		return nil
	}
	return t
}

// getByID returns the topic or nil.
func (ts *topics) getByID(id [16]byte) *topic {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.visible(ts.mu.byID[id])
}

// all returns every topic sorted by name.
func (ts *topics) all() []*topic { return ts.allOf(true) }

// allOf returns every topic sorted by name; with filter, not those
// imageOnly hides.
func (ts *topics) allOf(filter bool) []*topic {
	ts.mu.RLock()
	out := make([]*topic, 0, len(ts.mu.byName))
	for _, t := range ts.mu.byName {
		if !filter || ts.visible(t) != nil {
			out = append(out, t)
		}
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

// Pending operations on a name (topics.mu.pending).
const (
	opCreate = "create"
	opDelete = "delete"
	opAdd    = "add"
)

// createTopic creates a topic with n partitions and config overrides. The
// name is reserved first (a concurrent creation of it gets
// TOPIC_ALREADY_EXISTS); the topic appears, whole, when this returns nil.
func (ts *topics) createTopic(name string, n int32, configs map[string]string) (*topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if n <= 0 || n > maxPartitions {
		return nil, fmt.Errorf("%w: %d", errInvalidPartitions, n)
	}
	defaults := ts.defaults.cur.Load()
	cfg, err := logConfig(ts.defaults.get(), configs)
	if err != nil {
		return nil, err
	}
	if err := ts.reserveNew(name); err != nil {
		return nil, err
	}
	ts.ops.Add(1)
	defer ts.ops.Done()
	t := &topic{name: name, id: newUUID(), configs: maps.Clone(configs)}
	op := topicOp{Op: opCreate, Topic: name, TopicID: hex.EncodeToString(t.id[:]), Partitions: n, Configs: configs}
	if err := ts.beginOp(op); err != nil {
		ts.release(name)
		return nil, err
	}
	logs, err := ts.store.CreateLogs(name, 0, n, t.id, cfg, ts.partitionStep(name, "created"))
	if errors.Is(err, errStepStop) {
		return nil, err
	}
	if err != nil {
		return nil, ts.abortCreate(op, fmt.Errorf("broker: cannot create %s: %w", name, err))
	}
	t.partitions = logs
	if len(configs) > 0 {
		if err := ts.persistConfigs(name, configs); err != nil {
			return nil, ts.abortCreate(op, err)
		}
		if err := ts.step(name, "configs written"); err != nil {
			return nil, err
		}
	}
	if err := ts.endOp(op); err != nil {
		return nil, ts.abortCreate(op, err)
	}
	ts.publishNew(t, defaults)
	ts.log.Info("topic created", "topic", name, "partitions", n, "configs", configs)
	return t, nil
}

// publishNew publishes a created topic and frees its name; if the broker
// defaults changed since its logs were configured, they are reconfigured.
func (ts *topics) publishNew(t *topic, defaults *liveDefaults) {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	if ts.defaults.cur.Load() != defaults {
		if err := ts.applyConfigs(t, t.configs); err != nil {
			ts.log.Error("cannot apply changed broker defaults to a new topic", "topic", t.name, "err", err)
		}
	}
	ts.publishRelease(t)
}

// abortCreate undoes a failed creation and returns err. If that fails too,
// the operation stays recorded (and the name reserved): the next start
// finishes or rolls it back.
func (ts *topics) abortCreate(op topicOp, err error) error {
	if !ts.dropLogs(op.Topic, op.Partitions) {
		return err
	}
	if cfgErr := ts.persistConfigs(op.Topic, nil); cfgErr != nil {
		ts.log.Error("cannot remove the configs of a failed topic creation", "topic", op.Topic, "err", cfgErr)
		return err
	}
	if endErr := ts.endOp(op); endErr != nil {
		ts.log.Error("cannot clear the topic operation record", "topic", op.Topic, "err", endErr)
		return err
	}
	ts.release(op.Topic)
	return err
}

// maxPartitions bounds one topic's partition count (a typo guard; each
// partition holds open files).
const maxPartitions = 10000

// checkNewName rejects an existing, pending or colliding name.
func (ts *topics) checkNewName(name string) error {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.checkNewNameLocked(name)
}

// checkNewNameLocked is checkNewName with mu held.
func (ts *topics) checkNewNameLocked(name string) error {
	switch ts.mu.pending[name] {
	case opDelete:
		return newAPIError(kerr.TopicAlreadyExists, "Topic '%s' is marked for deletion.", name)
	case opCreate:
		return fmt.Errorf("%w: %q", errTopicExists, name)
	}
	if ts.mu.byName[name] != nil {
		return fmt.Errorf("%w: %q", errTopicExists, name)
	}
	key := collisionKey(name)
	for other := range ts.mu.byName {
		if collisionKey(other) == key {
			return fmt.Errorf("%w: %q collides with %q", errInvalidTopic, name, other)
		}
	}
	for other, op := range ts.mu.pending {
		if op == opCreate && collisionKey(other) == key {
			return fmt.Errorf("%w: %q collides with %q", errInvalidTopic, name, other)
		}
	}
	return nil
}

// reserveNew checks a new name and reserves it for its creation.
func (ts *topics) reserveNew(name string) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := ts.checkNewNameLocked(name); err != nil {
		return err
	}
	ts.mu.pending[name] = opCreate
	return nil
}

// reserveExisting returns the published topic name and reserves it for
// op; an operation already in progress on it is REASSIGNMENT_IN_PROGRESS
// (Kafka's answer while a topic's partitions are changing). For a delete,
// the topic is hidden at once. mu held.
func (ts *topics) reserveExistingLocked(name, op string) (*topic, error) {
	t := ts.mu.byName[name]
	if t == nil {
		return nil, fmt.Errorf("%w: %q", errUnknownTopic, name)
	}
	if cur := ts.mu.pending[name]; cur != "" {
		return nil, newAPIError(kerr.ReassignmentInProgress, "Topic '%s' has a %s in progress.", name, cur)
	}
	ts.mu.pending[name] = op
	if op == opDelete {
		delete(ts.mu.byName, name)
		delete(ts.mu.byID, t.id)
	}
	return t, nil
}

// release frees name after its operation.
func (ts *topics) release(name string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.mu.pending, name)
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
	ts.publishLocked(t)
}

// publishRelease publishes t and frees its name after its operation.
func (ts *topics) publishRelease(t *topic) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.publishLocked(t)
	delete(ts.mu.pending, t.name)
}

func (ts *topics) publishLocked(t *topic) {
	if old := ts.mu.byName[t.name]; old != nil {
		delete(ts.mu.byID, old.id)
	}
	ts.mu.byName[t.name] = t
	ts.mu.byID[t.id] = t
}

// deleteTopic removes a topic and its logs.
func (ts *topics) deleteTopic(name string) error {
	t, err := ts.markDeleted(name, [16]byte{})
	if err != nil {
		return err
	}
	return ts.removeTopic(t)
}

// markDeleted hides a topic from every lookup (Metadata, produce, fetch)
// and reserves its name until removeTopic has removed its files. Under
// writeMu too, so no config change republishes it. A non-zero id must be
// the topic's (else errUnknownTopic: it was re-created meanwhile).
func (ts *topics) markDeleted(name string, id [16]byte) (*topic, error) {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t := ts.mu.byName[name]; t != nil && id != [16]byte{} && t.id != id {
		return nil, fmt.Errorf("%w: %q", errUnknownTopic, name)
	}
	return ts.reserveExistingLocked(name, opDelete)
}

// removeTopic removes a topic hidden by markDeleted: records the intent,
// removes its configs, then its logs. If recording fails the topic is
// published again; a later failure leaves it hidden and recorded (the next
// start finishes the delete).
func (ts *topics) removeTopic(t *topic) error {
	ts.ops.Add(1)
	defer ts.ops.Done()
	n := int32(len(t.partitions))
	op := topicOp{Op: opDelete, Topic: t.name, TopicID: hex.EncodeToString(t.id[:]), Partitions: n}
	if err := ts.beginOp(op); err != nil {
		if !errors.Is(err, errStepStop) {
			ts.publishRelease(t)
		}
		return err
	}
	if err := ts.persistConfigs(t.name, nil); err != nil {
		return err // recorded: the next start finishes the delete
	}
	if len(t.configs) > 0 {
		if err := ts.step(t.name, "configs removed"); err != nil {
			return err
		}
	}
	err := ts.store.DeleteLogs(t.name, partitionRange(n), ts.partitionStep(t.name, "deleted"))
	if errors.Is(err, errStepStop) {
		return err
	}
	if err != nil {
		return fmt.Errorf("broker: cannot delete %s (the next start finishes it): %w", t.name, err)
	}
	if err := ts.endOp(op); err != nil {
		return err
	}
	ts.release(t.name)
	ts.log.Info("topic deleted", "topic", t.name, "partitions", n)
	return nil
}

// addPartitions grows a topic to total partitions (CreatePartitions). The
// topic stays visible with its old partitions until the new ones exist.
func (ts *topics) addPartitions(name string, total int32) (*topic, error) {
	ts.mu.Lock()
	t, err := ts.reserveExistingLocked(name, opAdd)
	ts.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ts.ops.Add(1)
	defer ts.ops.Done()
	nt, err := ts.grow(t, total)
	if errors.Is(err, errStepStop) {
		return nil, err
	}
	if err != nil {
		ts.release(name)
		return nil, err
	}
	return nt, nil
}

// grow does addPartitions' work on t, its name reserved.
func (ts *topics) grow(t *topic, total int32) (*topic, error) {
	name := t.name
	have := int32(len(t.partitions))
	if total <= have || total > maxPartitions {
		return nil, fmt.Errorf("%w: topic %q has %d partitions, asked for %d", errInvalidPartitions, name, have, total)
	}
	cfg, err := logConfig(ts.defaults.get(), t.configs)
	if err != nil {
		return nil, err
	}
	op := topicOp{Op: opAdd, Topic: name, TopicID: hex.EncodeToString(t.id[:]), From: have, Partitions: total}
	if err := ts.beginOp(op); err != nil {
		return nil, err
	}
	logs, err := ts.store.CreateLogs(name, have, total, t.id, cfg, ts.partitionStep(name, "added"))
	if errors.Is(err, errStepStop) {
		return nil, err
	}
	if err == nil {
		err = ts.endOp(op)
	}
	if err != nil {
		if derr := ts.store.DeleteLogs(name, addedRange(have, total), nil); derr == nil {
			ts.endOp(op)
		}
		return nil, fmt.Errorf("broker: cannot add partitions to %s: %w", name, err)
	}
	return ts.publishGrown(name, logs), nil
}

// publishGrown publishes topic name with logs added, under writeMu: a
// config change made meanwhile is applied to them too.
func (ts *topics) publishGrown(name string, logs []*partition.Log) *topic {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	cur := ts.get(name)
	nt := &topic{name: name, id: cur.id, configs: cur.configs, partitions: append(slices.Clone(cur.partitions), logs...)}
	if err := ts.applyConfigs(nt, nt.configs); err != nil {
		ts.log.Error("cannot apply a topic's configs to its new partitions", "topic", name, "err", err)
	}
	ts.publishRelease(nt)
	return nt
}

// addedRange is [from, to) descending.
func addedRange(from, to int32) []int32 {
	out := make([]int32, 0, max(to-from, 0))
	for p := to - 1; p >= from; p-- {
		out = append(out, p)
	}
	return out
}

// wait waits for every operation in flight (Shutdown, before the store
// closes).
func (ts *topics) wait() { ts.ops.Wait() }

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
	nt := &topic{name: name, id: t.id, partitions: t.partitions, configs: maps.Clone(configs), meta: t.meta, self: t.self}
	if err := ts.applyConfigs(nt, configs); err != nil {
		return err
	}
	ts.publish(nt)
	return nil
}

// persistConfigs rewrites topic-configs.json with name's overrides
// replaced (nil or empty removes them).
func (ts *topics) persistConfigs(name string, configs map[string]string) error {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	return ts.persistConfigsLocked(name, configs)
}

// persistConfigsLocked is persistConfigs with writeMu held.
func (ts *topics) persistConfigsLocked(name string, configs map[string]string) error {
	all := maps.Clone(ts.configFile)
	if all == nil {
		all = map[string]map[string]string{}
	}
	if len(configs) > 0 {
		all[name] = configs
	} else if _, ok := all[name]; ok {
		delete(all, name)
	} else {
		return nil // nothing to remove
	}
	if err := writeTopicConfigs(ts.store.Dir(), all); err != nil {
		return err
	}
	ts.configFile = all
	return nil
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

// adminParallel bounds the topic operations of one request that do their
// file work at once.
const adminParallel = 8

// runWithin runs jobs (at most adminParallel at a time) and waits until
// all are done or timeout has passed (timeout <= 0: no wait). It reports,
// per job, whether it finished; an unfinished job goes on in the
// background and what it writes must not be read.
func runWithin(timeout time.Duration, jobs []func()) []bool {
	done := make([]chan struct{}, len(jobs))
	sem := make(chan struct{}, adminParallel)
	for i, job := range jobs {
		done[i] = make(chan struct{})
		go func() {
			defer close(done[i])
			sem <- struct{}{}
			defer func() { <-sem }()
			job()
		}()
	}
	finished := make([]bool, len(jobs))
	timer := time.NewTimer(max(timeout, 0))
	defer timer.Stop()
	expired := false
	for i := range jobs {
		if expired {
			select {
			case <-done[i]:
				finished[i] = true
			default:
			}
			continue
		}
		select {
		case <-done[i]:
			finished[i] = true
		case <-timer.C:
			expired = true
			select {
			case <-done[i]:
				finished[i] = true
			default:
			}
		}
	}
	return finished
}

// timedOut is the answer for a topic whose operation outlived the
// request's timeout_ms (it finishes in the background, as in Kafka).
func timedOut(what, name string, timeoutMs int32) error {
	return newAPIError(kerr.RequestTimedOut,
		"%s of topic '%s' did not finish within the request's timeout of %d ms; it goes on in the background.", what, name, timeoutMs)
}
