package broker

// Helpers shared by the admin APIs (CreateTopics, DeleteTopics,
// CreatePartitions, DescribeConfigs, AlterConfigs,
// IncrementalAlterConfigs, DescribeCluster, DescribeLogDirs,
// DeleteRecords): errors answered with Kafka's own wording, replica
// assignment checks, config override validation and the read-modify-write
// of a topic's overrides.

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/partition"
)

// apiError is answered with its code and message as they are; handlers use
// it where Kafka has a wording clients and operators know.
type apiError struct {
	code int16
	msg  string
}

func (e *apiError) Error() string { return e.msg }

// newAPIError returns an apiError with k's code.
func newAPIError(k *kerr.Error, format string, args ...any) error {
	return &apiError{code: k.Code, msg: fmt.Sprintf(format, args...)}
}

// errorResult returns the code and message to answer err with (0 and nil
// for nil). Errors that map to UNKNOWN_SERVER_ERROR are logged.
func (b *Broker) errorResult(err error, what string) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code, &ae.msg
	}
	code := errorCode(err)
	if code == kerr.UnknownServerError.Code {
		b.log.Error(what+" failed", "err", err)
	}
	msg := err.Error()
	return code, &msg
}

// duplicates returns the keys that occur more than once among n items.
// eachDistinct calls fn once per distinct key among a request's n items, in
// request order, telling it whether the key is named more than once (Kafka
// answers such an item once, with INVALID_REQUEST, and acts on none).
func eachDistinct[K comparable](n int, key func(i int) K, fn func(i int, dup bool)) {
	dups := duplicates(n, key)
	answered := make(map[K]bool, n)
	for i := range n {
		k := key(i)
		if answered[k] {
			continue
		}
		answered[k] = true
		fn(i, dups[k])
	}
}

func duplicates[K comparable](n int, key func(i int) K) map[K]bool {
	seen := make(map[K]bool, n)
	dups := map[K]bool{}
	for i := range n {
		k := key(i)
		if seen[k] {
			dups[k] = true
		}
		seen[k] = true
	}
	return dups
}

// checkReplicas checks one partition's manual assignment: on one node the
// only valid list is [nodeID].
func (b *Broker) checkReplicas(replicas []int32) error {
	if b.cl != nil {
		return b.checkClusterReplicas(replicas)
	}
	nodeID := b.cfg.NodeID
	if len(replicas) == 0 {
		return newAPIError(kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes an empty replica list.")
	}
	for i, r := range replicas {
		if r != nodeID {
			return newAPIError(kerr.InvalidReplicaAssignment,
				"The manual partition assignment includes broker %d, but no such broker is registered.", r)
		}
		if i > 0 {
			return newAPIError(kerr.InvalidReplicaAssignment,
				"The manual partition assignment includes the broker %d more than once.", r)
		}
	}
	return nil
}

// minSegmentIndexBytes is partition's lower bound for segment.index.bytes
// (room for four time-index entries; Kafka's is 4), checked here so that
// partition.Log.SetConfig never refuses an override already persisted.
const minSegmentIndexBytes = 4 * 12

// checkTopicConfigs validates a complete set of overrides against defaults
// and returns the resulting log config. Errors are INVALID_CONFIG with
// Kafka's wording, naming the key and the value.
func checkTopicConfigs(defaults partition.Config, overrides map[string]string) (partition.Config, error) {
	cfg := defaults
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		v := overrides[k]
		def := lookupTopicConfigDef(k)
		if def == nil {
			return cfg, newAPIError(kerr.InvalidConfig, "Unknown topic config name: %s", k)
		}
		if err := def.set(&cfg, v); err != nil {
			return cfg, newAPIError(kerr.InvalidConfig, "Invalid value %s for configuration %s: %s", v, k, err)
		}
	}
	return cfg, nil
}

// nullConfigError is Kafka's answer to a config set to null.
func nullConfigError(name string) error {
	return newAPIError(kerr.InvalidConfig, "Null value not supported for topic configs: %s", name)
}

// updateConfigs replaces a topic's overrides with edit's result, applied to
// a copy of the current ones. Reading, editing, validating, persisting and
// applying happen under writeMu, so concurrent alters of one topic never
// lose each other's changes (setConfigs alone cannot give that to a
// read-modify-write). validateOnly stops after validation.
func (ts *topics) updateConfigs(name string, validateOnly bool, edit func(map[string]string) error) error {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	t := ts.get(name)
	if t == nil {
		return newAPIError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
	}
	next := maps.Clone(t.configs)
	if next == nil {
		next = map[string]string{}
	}
	if err := edit(next); err != nil {
		return err
	}
	if _, err := checkTopicConfigs(ts.defaults.get(), next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := ts.persistConfigsLocked(name, next); err != nil {
		return err
	}
	nt := &topic{name: name, id: t.id, partitions: t.partitions, configs: next, meta: t.meta, self: t.self}
	if err := ts.applyConfigs(nt, next); err != nil {
		return err
	}
	ts.publish(nt)
	ts.log.Info("topic configs altered", "topic", name, "configs", next)
	return nil
}
