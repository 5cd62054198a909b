package broker

// Dynamic broker configs: the broker configs Kafka lets
// IncrementalAlterConfigs/AlterConfigs change on a running broker that
// Sluice can honour, namely the broker-level defaults of topic configs
// (log.retention.ms, log.segment.bytes, log.cleaner.min.cleanable.ratio,
// message.max.bytes, compression.type, …; every synonym in
// topicConfigDefs), and the replication throttle rates (throttle.go). They are set for this node (resource name = node id,
// DYNAMIC_BROKER_CONFIG) or as the cluster-wide default (resource name "",
// DYNAMIC_DEFAULT_BROKER_CONFIG); a topic config's default is, most
// specific first, the node's dynamic value, the cluster's, the static
// value (file, environment, flags), Kafka's default. Within one level
// Kafka's precedence applies (log.retention.ms over .minutes over .hours).
//
// Both levels are kept in broker-configs.json in the data directory,
// replaced whole (temporary file, fsync, rename, directory fsync):
//
//	{"node": {"log.retention.ms": "3600000"}, "cluster": {}}
//
// A change is validated as a whole, persisted, then applied to every
// topic without an override of that config (partition.Log.SetConfig), so
// no restart is needed. With a controller the levels are Config records
// of the BROKER resources "" and the node id (configs_cluster.go): the
// reconciler applies them (replaceDynamic) and the file is only a cache
// of the image, read at start.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/partition"
)

const brokerConfigsFile = "broker-configs.json"

// dynamicLevels are the dynamic broker configs of both levels.
type dynamicLevels struct {
	Node    map[string]string `json:"node,omitempty"`
	Cluster map[string]string `json:"cluster,omitempty"`
}

// brokerDefaults is what topics without an override get: the static log
// config with the dynamic broker configs applied. Readers load it without
// locks; writers hold topics.writeMu.
type brokerDefaults struct {
	static partition.Config
	cur    atomic.Pointer[liveDefaults]
}

// liveDefaults is one published state: never modified once stored.
type liveDefaults struct {
	log     partition.Config
	dynamic dynamicLevels
}

func newBrokerDefaults(static partition.Config) *brokerDefaults {
	d := &brokerDefaults{static: static}
	d.cur.Store(&liveDefaults{log: static})
	return d
}

// get returns the log config of a topic without overrides.
func (d *brokerDefaults) get() partition.Config { return d.cur.Load().log }

// dynamic returns the current dynamic configs (not to be modified).
func (d *brokerDefaults) dynamic() dynamicLevels { return d.cur.Load().dynamic }

// dynamicTopicSynonym returns the topic config whose broker synonym key
// is, or nil: exactly the keys that can be changed dynamically.
func dynamicTopicSynonym(key string) *topicConfigDef {
	for i := range topicConfigDefs {
		if slices.Contains(topicConfigDefs[i].synonyms, key) {
			return &topicConfigDefs[i]
		}
	}
	return nil
}

// synonymMs converts a synonym's value to the topic config's unit
// (log.retention.minutes and .hours, log.roll.hours and log.roll.jitter.hours
// are in minutes or hours; -1 stays -1).
func synonymMs(key, v string) (string, error) {
	var unit int64
	switch {
	case strings.HasSuffix(key, ".minutes"):
		unit = 60 * 1000
	case strings.HasSuffix(key, ".hours"):
		unit = 3600 * 1000
	default:
		return v, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return "", numberError("INT")
	}
	if n < 0 {
		return strconv.FormatInt(n, 10), nil
	}
	return strconv.FormatInt(n*unit, 10), nil
}

// dynamicValue returns def's value at one dynamic level, in the topic
// config's unit, and which key gave it.
func dynamicValue(level map[string]string, def *topicConfigDef) (value, key string, ok bool) {
	for _, k := range def.synonyms {
		if v, set := level[k]; set {
			ms, err := synonymMs(k, v)
			return ms, k, err == nil
		}
	}
	return "", "", false
}

// buildDefaults applies both dynamic levels to the static config. An
// invalid value is an INVALID_CONFIG apiError naming the broker key.
func buildDefaults(static partition.Config, dyn dynamicLevels) (partition.Config, error) {
	c := static
	for i := range topicConfigDefs {
		def := &topicConfigDefs[i]
		for _, level := range []map[string]string{dyn.Cluster, dyn.Node} {
			v, key, ok := dynamicValue(level, def)
			if !ok {
				continue
			}
			if err := def.set(&c, v); err != nil {
				return c, newAPIError(kerr.InvalidConfig, "Invalid value %s for configuration %s: %s", level[key], key, err)
			}
		}
	}
	if err := c.Validate(); err != nil {
		return c, newAPIError(kerr.InvalidConfig, "%v", err)
	}
	return c, checkThrottleRates(dyn)
}

// checkDynamicKeys rejects keys that cannot change on a running broker,
// with Kafka's wording.
func checkDynamicKeys(name string, keys []string) error {
	var static []string
	for _, k := range keys {
		if dynamicTopicSynonym(k) == nil && !isThrottleRate(k) {
			static = append(static, k)
		}
	}
	if len(static) == 0 {
		return nil
	}
	return newAPIError(kerr.InvalidRequest,
		"Invalid config value for resource ConfigResource(type=BROKER, name='%s'): Cannot update these configs dynamically: Set(%s)",
		name, strings.Join(static, ", "))
}

// setDynamic replaces one level's dynamic configs (node when cluster is
// false) with edit's result, validates, persists and applies them to every
// topic. validateOnly stops after validation.
func (ts *topics) setDynamic(cluster, validateOnly bool, edit func(map[string]string) error) error {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	cur := ts.defaults.cur.Load()
	next := dynamicLevels{Node: maps.Clone(cur.dynamic.Node), Cluster: maps.Clone(cur.dynamic.Cluster)}
	level := &next.Node
	if cluster {
		level = &next.Cluster
	}
	if *level == nil {
		*level = map[string]string{}
	}
	if err := edit(*level); err != nil {
		return err
	}
	log, err := buildDefaults(ts.defaults.static, next)
	if err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := writeBrokerConfigs(ts.store.Dir(), next); err != nil {
		return err
	}
	ts.defaults.cur.Store(&liveDefaults{log: log, dynamic: next})
	ts.log.Info("dynamic broker configs changed", "node", next.Node, "cluster", next.Cluster)
	return ts.reapplyLocked()
}

// replaceDynamic makes dyn the dynamic configs of both levels (from the
// metadata image): validated, cached in broker-configs.json and applied to
// every topic.
func (ts *topics) replaceDynamic(dyn dynamicLevels) error {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	log, err := buildDefaults(ts.defaults.static, dyn)
	if err != nil {
		return err
	}
	if err := writeBrokerConfigs(ts.store.Dir(), dyn); err != nil {
		return err
	}
	ts.defaults.cur.Store(&liveDefaults{log: log, dynamic: dyn})
	ts.log.Info("dynamic broker configs changed", "node", dyn.Node, "cluster", dyn.Cluster)
	return ts.reapplyLocked()
}

// loadDynamic reads broker-configs.json at start and applies it. A value
// that no longer validates (a file edited by hand) stops the start.
func (ts *topics) loadDynamic() error {
	dyn, err := readBrokerConfigs(ts.store.Dir())
	if err != nil || len(dyn.Node)+len(dyn.Cluster) == 0 {
		return err
	}
	log, err := buildDefaults(ts.defaults.static, dyn)
	if err != nil {
		return fmt.Errorf("broker: %s: %w", brokerConfigsFile, err)
	}
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	ts.defaults.cur.Store(&liveDefaults{log: log, dynamic: dyn})
	return ts.reapplyLocked()
}

// reapplyLocked sets every partition's config from the current defaults
// and its topic's overrides. writeMu held.
func (ts *topics) reapplyLocked() error {
	var errs []error
	for _, t := range ts.all() {
		if err := ts.applyConfigs(t, t.configs); err != nil {
			errs = append(errs, fmt.Errorf("broker: topic %q: %w", t.name, err))
		}
	}
	return errors.Join(errs...)
}

func readBrokerConfigs(dir string) (dynamicLevels, error) {
	var dyn dynamicLevels
	path := filepath.Join(dir, brokerConfigsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return dyn, nil
	}
	if err != nil {
		return dyn, fmt.Errorf("broker: cannot read %q: %w", path, err)
	}
	if err := json.Unmarshal(data, &dyn); err != nil {
		return dyn, fmt.Errorf("broker: cannot parse %q: %w", path, err)
	}
	return dyn, nil
}

func writeBrokerConfigs(dir string, dyn dynamicLevels) error {
	data, err := json.MarshalIndent(dyn, "", "  ")
	if err != nil {
		return fmt.Errorf("broker: cannot encode broker configs: %w", err)
	}
	return writeFileAtomic(dir, brokerConfigsFile, append(data, '\n'))
}
