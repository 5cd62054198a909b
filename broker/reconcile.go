package broker

// With a controller, topics live in the metadata image: CreateTopics,
// DeleteTopics, CreatePartitions and auto-creation are decisions of the
// active controller (clusterops.go), and every broker reconciles its local
// logs from the image it applies:
//
//	metadata image ──▶ reconciler (one goroutine per broker)
//	                     for each topic changed since the last pass:
//	                       create the local log of every partition this
//	                       broker is a replica of; delete the others;
//	                       publish the topic (with its image) to handlers
//	                     every local topic the image no longer has (by
//	                     name and id): hidden, then its files removed
//
// # Crash safety: the image is the truth
//
// The metadata log is durable before a decision is answered, so a topic
// operation never needs a local intent record: at every start the
// reconciler's first pass brings the disk to the image, whatever step a
// crash interrupted (each partition directory is itself created atomically
// by partition.Store, and removed by rename to "-delete" first). That first
// pass waits until the image holds this broker's own registration at its
// current epoch, unfenced: the registration was committed after every earlier
// record, so the image then holds every topic created or deleted before
// this start, and a local topic missing from it was deleted meanwhile.
// So a partition's directory is not made when its log is created here
// (partition.Store.CreateLogsLazy) but by its first write: a partition
// never written has nothing on disk, and its log is created again by the
// first pass of every start, empty at offset 0.
//
// # Takeover of a single-node data directory
//
// A data directory written before topics lived in the metadata log has
// topics on disk and none in the log. The first pass, when the file
// topics-in-metadata is absent and this node is the active controller,
// imports them (controller.ImportTopics: ids, partition counts and config
// overrides preserved, this broker the only replica), then writes the
// file. Until it exists, local topics missing from the image are kept, not
// deleted (a node that is not the controller logs that it cannot import
// them). topicops.go's intent records still serve a broker without a
// controller (and are finished at start as before).
//
// # Configs
//
// Topic configs and dynamic broker configs are Config records in the
// image: CreateTopics' configs, and every AlterConfigs and
// IncrementalAlterConfigs change made through any broker
// (configs_cluster.go). Each pass applies them: a topic whose configs
// changed gets them on every local partition (partition.Log.SetConfig),
// and the BROKER resources "" (cluster-wide default) and this node's id
// become the dynamic broker configs every topic without an override
// follows. topic-configs.json and broker-configs.json are caches written
// from the image (read at start so the logs open with the last known
// configs; the first pass corrects them). The takeover of a single-node
// directory imports both files' contents into the metadata log. A
// broker-configs.json of a directory already taken over before configs
// were records is replaced by the image's (empty) broker configs.
//
// Replication follows each pass: replicaManager.sync (replication.go)
// starts or ends this broker's leaderships and moves the partitions it
// follows onto its leaders' fetchers, from the same image.

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/partition"
)

// takeoverFile marks a data directory whose topics are in the metadata log.
const takeoverFile = "topics-in-metadata"

// reconciler applies the metadata image's topics to the local logs.
type reconciler struct {
	b        *Broker
	ctl      *controller.Controller
	quit     chan struct{}
	done     chan struct{}
	strayOK  bool // local topics missing from the image may be deleted
	prev     *metadata.Image
	applied  atomic.Pointer[metadata.Image] // the last image a pass applied
	notifyMu sync.Mutex
	notify   chan struct{} // closed after each pass
	ready    chan struct{} // closed after the first pass
}

func newReconciler(b *Broker) *reconciler {
	return &reconciler{b: b, ctl: b.cfg.Controller, quit: make(chan struct{}), done: make(chan struct{}),
		notify: make(chan struct{}), ready: make(chan struct{})}
}

func (r *reconciler) start(epoch func() int64) { go r.loop(epoch) }

func (r *reconciler) stop() {
	close(r.quit)
	<-r.done
}

// passed returns a channel closed after the next reconcile pass.
func (r *reconciler) passed() <-chan struct{} {
	r.notifyMu.Lock()
	defer r.notifyMu.Unlock()
	return r.notify
}

func (r *reconciler) signal() {
	r.notifyMu.Lock()
	close(r.notify)
	r.notify = make(chan struct{})
	r.notifyMu.Unlock()
}

func (r *reconciler) loop(epoch func() int64) {
	defer close(r.done)
	controllerOnly := r.b.cfg.ControllerOnly
	if controllerOnly {
		// Not a broker: nothing to register, take over or load; the image
		// is followed so that forwarded admin requests can wait for it.
		r.strayOK = true
		r.b.topics.imageOnly.Store(true)
	} else {
		if !r.awaitCaughtUp(epoch) {
			return
		}
		r.takeover()
		r.takeoverSecurity()
	}
	first := true
	for {
		ch := r.ctl.ImageChanged()
		im, stamp := r.ctl.StampedImage()
		if im != r.prev {
			r.pass(im)
			r.prev = im
			r.b.cl.repl.sync(im)
			r.applied.Store(im)
			r.ctl.Reconciled(stamp, time.Now()) // the apply lag's "reconciled" stage (controller/applylag.go)
		}
		r.signal()
		if first {
			close(r.ready)
			first = false
		}
		// The coordinators open once __consumer_offsets and
		// __transaction_state follow the image (New saw them hidden), then
		// load and unload partitions as their leadership moves. A
		// controller-only node leads none and has none.
		if !controllerOnly {
			r.b.followCoordinators()
		}
		select {
		case <-ch:
		case <-r.quit:
			return
		}
	}
}

// awaitCaughtUp waits until the image holds this broker's registration at
// its current epoch, unfenced (so it leads again the partitions only it
// can lead); false if stopped first.
func (r *reconciler) awaitCaughtUp(epoch func() int64) bool {
	tick := time.NewTicker(registerRetry)
	defer tick.Stop()
	for {
		ch := r.ctl.ImageChanged()
		if e := epoch(); e >= 0 {
			if br, ok := r.ctl.Image().Broker(r.b.cfg.NodeID); ok && br.Epoch == e && !br.Fenced {
				return true
			}
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-r.quit:
			return false
		}
	}
}

// takeover imports the local topics of a data directory written before
// topics lived in the metadata log (see the file comment).
func (r *reconciler) takeover() {
	dir := r.b.store.Dir()
	if _, err := os.Stat(filepath.Join(dir, takeoverFile)); err == nil {
		r.strayOK = true
		return
	}
	im := r.ctl.Image()
	var imports []controller.ImportedTopic
	for _, t := range r.b.topics.allOf(false) {
		if t.meta != nil {
			continue
		}
		if _, ok := im.Topic(t.name); ok {
			continue
		}
		imports = append(imports, controller.ImportedTopic{Name: t.name, ID: t.id,
			Partitions: int32(len(t.partitions)), Configs: t.configs})
	}
	if len(imports) > 0 {
		if !r.ctl.IsLeader() {
			r.b.log.Error("this data directory has topics the metadata log lacks, and only the active controller can import them: they are kept but not served through the cluster",
				"topics", len(imports))
			return
		}
		if err := r.ctl.ImportTopics(r.b.cfg.NodeID, imports); err != nil {
			r.b.log.Error("cannot import this data directory's topics into the metadata log; they are kept", "err", err)
			return
		}
		r.b.log.Info("took over the topics of a single-node data directory into the metadata log", "topics", len(imports))
	}
	if r.ctl.IsLeader() {
		r.importBrokerConfigs(im)
	}
	if err := writeFileAtomic(dir, takeoverFile, []byte("topics of this directory are in the metadata log\n")); err != nil {
		r.b.log.Error("cannot mark the data directory as taken over", "err", err)
		return
	}
	r.strayOK = true
	r.b.topics.imageOnly.Store(true)
}

// awaitApplied waits until ok holds for the last image a pass applied or
// the deadline passes; it reports whether ok held.
func (r *reconciler) awaitApplied(deadline time.Time, ok func(*metadata.Image) bool) bool {
	for {
		ch := r.passed()
		if im := r.applied.Load(); im != nil && ok(im) {
			return true
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		timer := time.NewTimer(wait)
		select {
		case <-ch:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// pass brings the local topics and the dynamic broker configs to im.
func (r *reconciler) pass(im *metadata.Image) {
	r.applyBrokerConfigs(im)
	for _, name := range im.TopicNames() {
		ti, _ := im.Topic(name)
		if r.prev != nil {
			if pt, ok := r.prev.TopicByID(ti.ID); ok && pt == ti &&
				maps.Equal(r.prev.Configs(metadata.ResourceTopic, name), im.Configs(metadata.ResourceTopic, name)) {
				continue // shared by Apply, same configs: unchanged
			}
		}
		if err := r.ensure(im, ti); err != nil {
			r.b.log.Error("cannot reconcile a topic's local logs", "topic", name, "err", err)
		}
	}
	for _, t := range r.b.topics.allOf(false) {
		if ti, ok := im.TopicByID(t.id); ok && ti.Name == t.name {
			continue
		}
		if t.meta == nil && !r.strayOK {
			continue
		}
		if err := r.remove(t); err != nil {
			r.b.log.Error("cannot delete a topic's local logs", "topic", t.name, "err", err)
		}
	}
}

// ensure creates ti's local logs where this broker is a replica, deletes
// the others, and publishes the topic.
func (r *reconciler) ensure(im *metadata.Image, ti *metadata.TopicImage) error {
	ts, self := r.b.topics, r.b.cfg.NodeID
	local := ts.getLocal(ti.Name)
	if local != nil && local.id != ti.ID {
		if err := r.remove(local); err != nil {
			return err
		}
		local = nil
	}
	// The image's configs are the topic's: topic-configs.json is a cache
	// of them (read at start before the first pass).
	configs := im.Configs(metadata.ResourceTopic, ti.Name)
	ts.writeMu.Lock()
	cached := ts.configFile[ti.Name]
	ts.writeMu.Unlock()
	cfg, err := logConfig(ts.defaults.get(), configs)
	if err != nil {
		return err
	}
	offline := map[int32]bool{} // their logs could not be opened: left offline, never re-created
	for _, o := range ts.store.Offline() {
		if o.Topic == ti.Name && (o.TopicID == ti.ID || o.TopicID == [16]byte{}) {
			offline[o.Partition] = true
		}
	}
	parts := make([]*partition.Log, len(ti.Partitions))
	var missing, drop []int32
	for i, p := range ti.Partitions {
		if offline[int32(i)] {
			continue
		}
		l := ts.store.Get(ti.Name, int32(i))
		if l != nil && l.TopicID() != ti.ID {
			drop, l = append(drop, int32(i)), nil
		}
		switch here := slices.Contains(p.Replicas, self); {
		case here && l != nil:
			parts[i] = l
		case here:
			missing = append(missing, int32(i))
		case l != nil:
			drop = append(drop, int32(i))
		}
	}
	if len(drop) > 0 {
		if err := ts.store.DeleteLogs(ti.Name, drop, nil); err != nil {
			return fmt.Errorf("cannot delete partitions %v: %w", drop, err)
		}
	}
	for _, run := range runs(missing) {
		// The image is the truth and every start creates missing logs
		// again: a new partition's directory waits for its first write.
		logs, err := ts.store.CreateLogsLazy(ti.Name, run[0], run[1], ti.ID, cfg)
		if err != nil {
			return fmt.Errorf("cannot create partitions [%d, %d): %w", run[0], run[1], err)
		}
		copy(parts[run[0]:run[1]], logs)
	}
	if !maps.Equal(cached, configs) {
		if err := ts.persistConfigs(ti.Name, configs); err != nil {
			return err
		}
	}
	ts.publishImage(&topic{name: ti.Name, id: ti.ID, partitions: parts, configs: configs, meta: ti, self: self})
	return nil
}

// runs groups ascending partition numbers into [from, to) ranges.
func runs(ps []int32) [][2]int32 {
	var out [][2]int32
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1][1] == p {
			out[n-1][1]++
			continue
		}
		out = append(out, [2]int32{p, p + 1})
	}
	return out
}

// remove hides t from every lookup, then removes its files and configs.
func (r *reconciler) remove(t *topic) error {
	ts := r.b.topics
	ts.writeMu.Lock()
	ts.mu.Lock()
	if cur := ts.mu.byName[t.name]; cur != nil && cur.id == t.id {
		delete(ts.mu.byName, t.name)
		delete(ts.mu.byID, t.id)
	}
	ts.mu.Unlock()
	ts.writeMu.Unlock()
	if err := ts.removeTopicFiles(t.name, t.id); err != nil {
		return err
	}
	ts.writeMu.Lock()
	delete(ts.configFile, t.name) // removeTopicFiles rewrote the file
	ts.writeMu.Unlock()
	r.b.log.Info("topic's local logs deleted", "topic", t.name)
	return nil
}

// publishImage publishes a topic built from the image, with the image's
// configs applied to its partitions.
func (ts *topics) publishImage(t *topic) {
	ts.writeMu.Lock()
	defer ts.writeMu.Unlock()
	if err := ts.applyConfigs(t, t.configs); err != nil {
		ts.log.Error("cannot apply a topic's configs to its partitions", "topic", t.name, "err", err)
	}
	ts.publish(t)
}

// startWait bounds how long Metadata waits, after a start, for the
// broker's logs to follow the image.
const startWait = 5 * time.Second

// markImageOnly hides the topics not from the image once the data
// directory was taken over (called by New with a controller).
func (ts *topics) markImageOnly() {
	if _, err := os.Stat(filepath.Join(ts.store.Dir(), takeoverFile)); err == nil {
		ts.imageOnly.Store(true)
	}
}

// awaitReady waits until this broker is registered and its logs follow the
// image (the reconciler's first pass), so the controller counts it among
// the live brokers when it places replicas.
func (b *Broker) awaitReady(timeout time.Duration) error {
	if b.cl == nil {
		return nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-b.cl.rec.ready:
		return nil
	case <-timer.C:
		return newAPIError(kerr.NotController, "This broker has not joined the cluster yet.")
	}
}

// errNotReconciled: the change was committed but this broker has not
// applied it within the wait.
var errNotReconciled = newAPIError(kerr.RequestTimedOut, "The change was committed but is not applied on this broker yet.")

// awaitTopic waits until ok holds for the local topic name (nil if absent)
// or the deadline passes.
func (b *Broker) awaitTopic(name string, deadline time.Time, ok func(*topic) bool) (*topic, error) {
	for {
		var ch <-chan struct{}
		if b.cl != nil && b.cl.rec != nil {
			ch = b.cl.rec.passed()
		}
		t := b.topics.get(name)
		if ok(t) {
			return t, nil
		}
		wait := time.Until(deadline)
		if wait <= 0 || ch == nil {
			return t, errNotReconciled
		}
		timer := time.NewTimer(wait)
		select {
		case <-ch:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// applyBrokerConfigs makes the image's dynamic broker configs (the
// cluster-wide default and this node's) the live ones.
func (r *reconciler) applyBrokerConfigs(im *metadata.Image) {
	ts := r.b.topics
	next := dynamicLevels{
		Node:    im.Configs(metadata.ResourceBroker, brokerResourceName(r.b.cfg.NodeID)),
		Cluster: im.Configs(metadata.ResourceBroker, ""),
	}
	cur := ts.defaults.dynamic()
	if maps.Equal(cur.Node, next.Node) && maps.Equal(cur.Cluster, next.Cluster) {
		return
	}
	if err := ts.replaceDynamic(next); err != nil {
		r.b.log.Error("cannot apply the dynamic broker configs of the metadata image", "err", err)
	}
}

// importBrokerConfigs imports broker-configs.json's levels into the
// metadata log at the takeover, unless the image already has configs
// there.
func (r *reconciler) importBrokerConfigs(im *metadata.Image) {
	dyn := r.b.topics.defaults.dynamic()
	for name, level := range map[string]map[string]string{"": dyn.Cluster, brokerResourceName(r.b.cfg.NodeID): dyn.Node} {
		if len(level) == 0 || len(im.Configs(metadata.ResourceBroker, name)) > 0 {
			continue
		}
		changes := make(map[string]*string, len(level))
		for k, v := range level {
			changes[k] = &v
		}
		if err := r.ctl.SetConfigs(metadata.ResourceBroker, name, changes); err != nil {
			r.b.log.Error("cannot import the dynamic broker configs into the metadata log", "resource", name, "err", err)
		}
	}
}
