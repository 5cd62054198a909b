package broker

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Topic creation and deletion are one durable step each.
//
// Before touching any partition directory, CreateTopics and DeleteTopics
// write their intent to topic-operation-<op>-<topic id>.json (fsync'd,
// renamed into place, directory fsync'd):
//
//	{"op": "create", "topic": "orders", "topic_id": "<32 hex digits>",
//	 "partitions": 2000, "configs": {"cleanup.policy": "compact"}}
//
// then do the work (create: every partition directory, each itself created
// atomically by the store, then topic-configs.json; delete: topic-configs.json,
// then every partition directory renamed to `<topic>-<p>.<id>-delete` and
// removed), and remove the file last. Operations on different topics run in
// parallel, each with its own file; one name has at most one operation in
// flight (topics.mu.pending). At start, before the registry is built, every
// pending operation is rolled forward: a create makes its missing
// partitions and writes its configs, a delete removes whatever is left of
// its partitions and configs. If rolling a create forward fails (say the
// disk is full), it is rolled back instead. A topic is therefore either
// wholly there, with its configs, or wholly gone, whatever the step a crash
// interrupted. CreatePartitions is recorded the same way ("op": "add",
// with "from", the count before): finished at start, or its new partitions
// removed. Partition directories are created (and made durable with one
// syncfs) and deleted by partition.Store.CreateLogs and DeleteLogs.
// topic-operation.json, the single record of earlier versions, is finished
// at start too.

// topicOpFile is the record of earlier versions (one operation at a time);
// topicOpPrefix+"<op>-<id>.json" names a record now.
const (
	topicOpFile   = "topic-operation.json"
	topicOpPrefix = "topic-operation-"
)

// file is op's record's name.
func (op topicOp) file() string { return topicOpPrefix + op.Op + "-" + op.TopicID + ".json" }

// topicOp is a pending create or delete.
type topicOp struct {
	Op         string            `json:"op"` // "create", "delete" or "add" (CreatePartitions)
	Topic      string            `json:"topic"`
	TopicID    string            `json:"topic_id"` // hex
	Partitions int32             `json:"partitions"`
	From       int32             `json:"from,omitempty"` // "add": the partitions before
	Configs    map[string]string `json:"configs,omitempty"`
}

func (op topicOp) id() ([16]byte, error) {
	var id [16]byte
	b, err := hex.DecodeString(op.TopicID)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("broker: %s: bad topic_id %q", topicOpFile, op.TopicID)
	}
	copy(id[:], b)
	return id, nil
}

// beginOp durably records op before any partition directory changes.
func (ts *topics) beginOp(op topicOp) error {
	data, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("broker: cannot encode topic operation: %w", err)
	}
	if err := writeFileAtomic(ts.store.Dir(), op.file(), append(data, '\n')); err != nil {
		// Renamed but not made durable, it would be finished at the next
		// start although the client was told it failed.
		if endErr := ts.endOp(op); endErr != nil {
			ts.log.Error("cannot remove a topic operation record that failed to write", "err", endErr)
		}
		return err
	}
	return ts.step(op.Topic, "op-written")
}

// endOp removes op's record: the operation is complete.
func (ts *topics) endOp(op topicOp) error {
	return removeOpFile(ts.store.Dir(), op.file())
}

func removeOpFile(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("broker: cannot remove %s: %w", name, err)
	}
	return syncDir(dir)
}

// step is called after each file step of a create or delete; a test hook
// (topics.afterStep) stops the process there to test crash recovery. Its
// errors wrap errStepStop.
func (ts *topics) step(topic, what string) error {
	hook := ts.afterStep.Load()
	if hook == nil {
		return nil
	}
	if err := (*hook)(topic, what); err != nil {
		return fmt.Errorf("%w: %w", errStepStop, err)
	}
	return nil
}

// setAfterStep sets the test hook (nil removes it).
func (ts *topics) setAfterStep(fn func(topic, step string) error) {
	if fn == nil {
		ts.afterStep.Store(nil)
		return
	}
	ts.afterStep.Store(&fn)
}

// errStepStop: the test hook stopped an operation (nothing is undone).
var errStepStop = errors.New("broker: stopped by test hook")

// partitionStep is the store's progress callback: step after each
// partition; nil without a hook.
func (ts *topics) partitionStep(topic, what string) func(p int32) error {
	if ts.afterStep.Load() == nil {
		return nil
	}
	return func(p int32) error { return ts.step(topic, fmt.Sprintf("partition %d %s", p, what)) }
}

// pendingOpFiles lists the records left by a crash, oldest format first.
func pendingOpFiles(dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, topicOpPrefix+"*.json"))
	if err != nil {
		return nil, fmt.Errorf("broker: cannot list topic operations: %w", err)
	}
	out := []string{topicOpFile}
	for _, n := range names {
		out = append(out, filepath.Base(n))
	}
	return out, nil
}

// readTopicOp returns the operation recorded in file name, or nil.
func readTopicOp(dir, name string) (*topicOp, error) {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: cannot read %q: %w", path, err)
	}
	var op topicOp
	if err := json.Unmarshal(data, &op); err != nil {
		return nil, fmt.Errorf("broker: cannot parse %q: %w", path, err)
	}
	return &op, nil
}

// finishPendingOps rolls every pending operation forward (a create that
// cannot be finished is rolled back) before the registry is built.
func (ts *topics) finishPendingOps() error {
	files, err := pendingOpFiles(ts.store.Dir())
	if err != nil {
		return err
	}
	for _, name := range files {
		if err := ts.finishPendingOp(name); err != nil {
			return err
		}
	}
	return nil
}

// finishPendingOp finishes the operation recorded in file name, if any.
func (ts *topics) finishPendingOp(name string) error {
	op, err := readTopicOp(ts.store.Dir(), name)
	if op == nil || err != nil {
		return err
	}
	id, err := op.id()
	if err != nil {
		return err
	}
	switch op.Op {
	case opCreate:
		err = ts.rollCreateForward(*op, id)
		if err != nil {
			ts.log.Error("cannot finish an interrupted topic creation: rolling it back", "topic", op.Topic, "err", err)
			err = ts.removeTopicFiles(op.Topic, id)
		}
	case opDelete:
		err = ts.removeTopicFiles(op.Topic, id)
	case opAdd:
		err = ts.rollAddForward(*op, id)
	default:
		err = fmt.Errorf("broker: %s: unknown op %q", name, op.Op)
	}
	if err != nil {
		return fmt.Errorf("broker: cannot finish the interrupted %s of topic %q: %w", op.Op, op.Topic, err)
	}
	ts.log.Warn("finished a topic operation interrupted by a crash", "op", op.Op, "topic", op.Topic,
		"partitions", op.Partitions)
	return removeOpFile(ts.store.Dir(), name)
}

// rollCreateForward creates the partitions a crash left out and writes the
// topic's configs.
func (ts *topics) rollCreateForward(op topicOp, id [16]byte) error {
	cfg, err := logConfig(ts.defaults.get(), op.Configs)
	if err != nil {
		return err
	}
	if _, err := ts.store.CreateLogs(op.Topic, 0, op.Partitions, id, cfg, nil); err != nil {
		return err
	}
	all, err := readTopicConfigs(ts.store.Dir())
	if err != nil {
		return err
	}
	if len(op.Configs) > 0 {
		all[op.Topic] = op.Configs
	} else {
		delete(all, op.Topic)
	}
	return writeTopicConfigs(ts.store.Dir(), all)
}

// rollAddForward creates the partitions an interrupted CreatePartitions
// left out, or if it cannot, removes the ones it added.
func (ts *topics) rollAddForward(op topicOp, id [16]byte) error {
	configs, err := readTopicConfigs(ts.store.Dir())
	if err != nil {
		return err
	}
	cfg, err := logConfig(ts.defaults.get(), configs[op.Topic])
	if err == nil {
		_, err = ts.store.CreateLogs(op.Topic, op.From, op.Partitions, id, cfg, nil)
	}
	if err != nil {
		ts.log.Error("cannot finish an interrupted partition addition: rolling it back", "topic", op.Topic, "err", err)
		return ts.store.DeleteLogs(op.Topic, addedRange(op.From, op.Partitions), nil)
	}
	return nil
}

// removeTopicFiles deletes every partition of topic (online or offline)
// whose topic id is id or unknown (zero), and its configs.
func (ts *topics) removeTopicFiles(topic string, id [16]byte) error {
	all, err := readTopicConfigs(ts.store.Dir())
	if err != nil {
		return err
	}
	if _, ok := all[topic]; ok {
		delete(all, topic)
		if err := writeTopicConfigs(ts.store.Dir(), all); err != nil {
			return err
		}
	}
	var parts []int32
	for _, l := range ts.store.Logs() {
		if l.Topic() == topic && (l.TopicID() == id || l.TopicID() == [16]byte{}) {
			parts = append(parts, l.Partition())
		}
	}
	for _, o := range ts.store.Offline() {
		if o.Topic == topic && (o.TopicID == id || o.TopicID == [16]byte{}) {
			parts = append(parts, o.Partition)
		}
	}
	return ts.store.DeleteLogs(topic, parts, nil)
}
