package partition

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/internal/lanes"
	"github.com/sluice/sluice/internal/vfs"
)

// Files at the data-dir root, named as Kafka names them.
const (
	lockFile               = ".lock"
	cleanShutdownFile      = ".kafka_cleanshutdown"
	recoveryPointFile      = "recovery-point-offset-checkpoint"
	logStartOffsetFile     = "log-start-offset-checkpoint"
	replicationOffsetFile  = "replication-offset-checkpoint"
	partitionMetadataFile  = "partition.metadata"
	deleteDirSuffix        = "-delete"
	defaultRetentionCheck  = 5 * time.Minute
	defaultCheckpointEvery = time.Minute
)

// partitionDir matches `<topic>-<partition>`.
var partitionDir = regexp.MustCompile(`^(.+)-(\d+)$`)

// metadataLogDir is the controller quorum's metadata log (package
// controller, KRaft's name): in the data directory but not a partition.
const metadataLogDir = "__cluster_metadata-0"

type store struct {
	cfg    StoreConfig
	fs     vfs.FS
	logger *slog.Logger
	lock   *os.File

	mu struct {
		sync.Mutex
		logs map[topicPartition]*Log
		// sorted is logs' values by topic and partition as logs() last
		// built it; nil after any change to logs (logsChangedLocked). gen
		// counts those changes, so a list sorted outside the lock is kept
		// only if nothing changed meanwhile.
		sorted  []*Log
		gen     uint64
		offline map[topicPartition]*OfflineLog // could not be opened (offline.go)
		closed  bool
	}
	checkpointMu sync.Mutex // serialises checkpoint writes
	hwMu         sync.Mutex // serialises replication-offset-checkpoint writes
	// openHWs is the replication-offset-checkpoint read at open: the
	// entries of partitions that could not be opened are written back.
	openHWs     map[topicPartition]int64
	openedClean bool // the clean-shutdown marker was trusted at open
	// openedEpoch is the brokerEpoch the trusted marker named (-1: none);
	// brokerEpoch is the one the next marker names (-1: none).
	openedEpoch int64
	brokerEpoch atomic.Int64
	cl          cleanerState
	rm          remover // removes deleted logs' directories (remover.go)
	stop        chan struct{}
	done        sync.WaitGroup

	// topicLocks serialises the creation and deletion of one topic's logs
	// (topicstate.go); held across their file operations, never by readers.
	// Different topics are created and deleted in parallel.
	topicLocks topicLocks
	// metaLinks: new partition directories of a topic share its
	// partition.metadata inode (metalink.go).
	metaLinks metaLinks
}

func openStore(cfg StoreConfig) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("partition: store needs a data directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = defaultRetentionCheck
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = defaultCheckpointEvery
	}
	cleanerDefaults(&cfg)
	if err := cfg.Defaults.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data directory %q: %w", cfg.Dir, err)
	}
	s := &Store{store{cfg: cfg, fs: vfs.Or(cfg.FS), logger: cfg.Logger, stop: make(chan struct{})}}
	s.mu.logs = make(map[topicPartition]*Log)
	s.mu.offline = make(map[topicPartition]*OfflineLog)
	s.brokerEpoch.Store(-1)
	s.rm.init()
	if err := s.takeLock(); err != nil {
		return nil, err
	}
	if err := s.loadAll(); err != nil {
		s.closeLogs()
		s.lock.Close()
		return nil, err
	}
	s.done.Add(1)
	go s.background()
	s.startRemover()
	s.startSegmentSweep()
	s.startCleaners()
	return s, nil
}

// takeLock holds an exclusive flock on <dir>/.lock for the store's life.
func (s *store) takeLock() error {
	p := filepath.Join(s.cfg.Dir, lockFile)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open lock file %q: %w", p, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("data directory %q is in use by another sluiced (lock %q is held)", s.cfg.Dir, p)
		}
		return fmt.Errorf("cannot lock %q: %w", p, err)
	}
	s.lock = f
	return nil
}

// loadAll opens every partition directory. The clean-shutdown marker is
// removed only after, so a crash during start-up still recovers.
func (s *store) loadAll() error {
	marker := filepath.Join(s.cfg.Dir, cleanShutdownFile)
	_, err := os.Stat(marker)
	clean := err == nil
	rps, err := readOffsetCheckpoint(s.fs, filepath.Join(s.cfg.Dir, recoveryPointFile))
	if err != nil {
		s.logger.Warn("ignoring unreadable recovery-point checkpoint: recovering every log", "err", err)
		rps, clean = map[topicPartition]int64{}, false
	}
	starts, err := readOffsetCheckpoint(s.fs, filepath.Join(s.cfg.Dir, logStartOffsetFile))
	if err != nil {
		s.logger.Warn("ignoring unreadable log-start-offset checkpoint", "err", err)
		starts = map[topicPartition]int64{}
	}
	s.openedClean = clean
	s.openedEpoch = -1
	if clean {
		s.openedEpoch = readMarkerEpoch(s.fs, marker)
	}
	s.openHWs, err = readOffsetCheckpoint(s.fs, filepath.Join(s.cfg.Dir, replicationOffsetFile))
	if err != nil {
		s.logger.Warn("ignoring unreadable replication-offset checkpoint: replicated logs start at their log start", "err", err)
		s.openHWs = map[topicPartition]int64{}
	}
	cleaned := s.readCleanerCheckpoint()
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("cannot list data directory %q: %w", s.cfg.Dir, err)
	}
	// Several logs at once, as Kafka's recovery threads: a recovered
	// log's load fsyncs its data and rewrites its leader-epoch checkpoint
	// (log.load), and concurrent fsyncs share the file system's journal
	// commits; the CRC pass of each runs on its own core. Logs load
	// independently; the maps they go into are locked.
	errs := make([]error, len(entries))
	lanes.Run(len(entries), loadWorkers, func(i int) { errs[i] = s.loadEntry(entries[i], clean, rps, starts, cleaned) })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if clean {
		if err := os.Remove(marker); err != nil {
			return fmt.Errorf("cannot remove clean-shutdown marker: %w", err)
		}
		return syncDir(s.fs, s.cfg.Dir)
	}
	return nil
}

func (s *store) loadEntry(e os.DirEntry, clean bool, rps, starts, cleaned map[topicPartition]int64) error {
	name := e.Name()
	if !e.IsDir() {
		return nil
	}
	path := filepath.Join(s.cfg.Dir, name)
	if strings.HasSuffix(name, deleteDirSuffix) {
		s.rm.enqueue(path) // a deletion a stop cut short: removed in the background
		return nil
	}
	if strings.HasSuffix(name, newDirSuffix) {
		return os.RemoveAll(path)
	}
	if name == metadataLogDir {
		return nil
	}
	m := partitionDir.FindStringSubmatch(name)
	if m == nil {
		return nil
	}
	p, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return nil
	}
	tp := topicPartition{m[1], int32(p)}
	id, idErr := readPartitionMetadata(path)
	rp, ok := rps[tp]
	if !ok {
		rp = -1
	}
	ls, ok := starts[tp]
	if !ok {
		ls = -1
	}
	o := s.openOptions(tp, id, s.cfg.Defaults, rp, ls, clean && rp >= 0)
	if cp, ok := cleaned[tp]; ok {
		o.cleanerPoint = cp
	}
	o.highWatermark = s.openHWs[tp] // 0 when none, as Kafka
	if idErr != nil {
		s.takeOffline(tp, id, path, rp, ls, idErr)
		return nil
	}
	l, err := openLog(path, o)
	if err != nil {
		s.takeOffline(tp, id, path, rp, ls, err)
		return nil
	}
	l.parkIdleSegments(true) // loading opened every .log (segcache.go)
	s.mu.Lock()
	s.mu.logs[tp] = l
	s.logsChangedLocked()
	s.mu.Unlock()
	return nil
}

func (s *store) openOptions(tp topicPartition, id [16]byte, cfg Config, rp, ls int64, clean bool) openOptions {
	return openOptions{
		topic: tp.topic, partition: tp.partition, topicID: id, cfg: cfg,
		recoveryPoint: rp, logStart: ls, cleanerPoint: -1, clean: clean,
		logger: s.logger, now: s.cfg.Now, observer: s.cfg.Observer, fs: s.fs,
		onLogStart: func() { s.writeCheckpoints() }, metaLinks: &s.metaLinks,
	}
}

// background runs retention, interval flushes and periodic checkpoints.
func (s *store) background() {
	defer s.done.Done()
	retention := time.NewTicker(s.cfg.RetentionCheckInterval)
	checkpoint := time.NewTicker(s.cfg.CheckpointInterval)
	defer retention.Stop()
	defer checkpoint.Stop()
	flushEvery := s.cfg.Defaults.FlushInterval
	if flushEvery <= 0 {
		flushEvery = time.Second
	}
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-retention.C:
			s.applyRetention()
		case <-checkpoint.C:
			s.writeCheckpoints()
		case <-flush.C:
			s.flushInterval()
		}
	}
}

func (s *store) applyRetention() {
	now := s.cfg.Now()
	for _, l := range s.logs() {
		if l.offline() != nil {
			continue // logged when it went offline; it waits for a restart
		}
		if _, err := l.ApplyRetention(now); err != nil {
			s.logger.Error("retention failed", "topic", l.topic, "partition", l.partition, "err", err)
		}
	}
}

// flushInterval flushes the logs under FlushInterval, and fsyncs the
// leader-epoch checkpoint of those under FlushAlways that an append wrote
// without an fsync (their recovery point waits for it: append.go,
// publishRound).
func (s *store) flushInterval() {
	for _, l := range s.logs() {
		if l.offline() != nil {
			continue
		}
		var err error
		switch l.config().Flush {
		case FlushInterval:
			err = l.Flush()
		case FlushAlways:
			if l.epochFile().dirtyFrom.Load() == math.MaxInt64 {
				continue
			}
			err = l.flushEpochCheckpoint()
		default:
			continue
		}
		if err != nil && !errors.Is(err, ErrClosed) {
			s.logger.Error("interval flush failed", "topic", l.topic, "partition", l.partition, "err", err)
		}
	}
}

// writeCheckpoints writes the recovery points and log start offsets.
func (s *store) writeCheckpoints() {
	if err := s.checkpoint(); err != nil {
		s.logger.Error("cannot write checkpoints", "err", err)
	}
}

// checkpoint writes both checkpoint files. A log's recovery point is what
// it has fsync'd (at close, its end once Close synced it; an offline log's
// stays where its last good fsync left it).
func (s *store) checkpoint() error {
	s.checkpointMu.Lock()
	defer s.checkpointMu.Unlock()
	rps := make(map[topicPartition]int64)
	starts := make(map[topicPartition]int64)
	for _, l := range s.logs() {
		tp := topicPartition{l.topic, l.partition}
		rps[tp] = l.recoveryPointOf()
		starts[tp] = l.LogStartOffset()
	}
	s.offlineCheckpoints(rps, starts)
	return errors.Join(
		writeOffsetCheckpoint(s.fs, filepath.Join(s.cfg.Dir, recoveryPointFile), rps),
		writeOffsetCheckpoint(s.fs, filepath.Join(s.cfg.Dir, logStartOffsetFile), starts))
}

// logs returns every log, ordered by topic and partition, in a slice of
// the caller's own. The order is sorted once per change to the store's
// logs, not per call: the checkpoints, the segment sweep and the
// console's sampler ask every few seconds, and sorting 10,000 logs each
// time was ~40% of an idle broker's CPU at 10,000 partitions.
func (s *store) logs() []*Log {
	s.mu.Lock()
	if s.mu.sorted != nil {
		out := slices.Clone(s.mu.sorted)
		s.mu.Unlock()
		return out
	}
	gen := s.mu.gen
	out := make([]*Log, 0, len(s.mu.logs))
	for _, l := range s.mu.logs {
		out = append(out, l)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *Log) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return cmp.Compare(a.partition, b.partition)
	})
	s.mu.Lock()
	if s.mu.gen == gen {
		s.mu.sorted = slices.Clone(out)
	}
	s.mu.Unlock()
	return out
}

// logsChangedLocked drops the sorted list of logs after s.mu.logs gained
// or lost a log.
func (s *store) logsChangedLocked() {
	s.mu.gen++
	s.mu.sorted = nil
}

func (s *store) get(topic string, partition int32) *Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.logs[topicPartition{topic, partition}]
}

// close flushes and closes every log, then writes the checkpoints and the
// clean-shutdown marker, and releases the lock.
func (s *store) close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.done.Wait()
	// Each log fsyncs what it holds before it closes; any failure (or a log
	// already offline) keeps the marker from being written, so the next
	// start recovers from the recovery points.
	closeErr := s.closeLogs()
	ckErr := errors.Join(s.checkpoint(), s.checkpointHighWatermarks())
	var markErr error
	if ckErr == nil && closeErr == nil && s.offlineCount() == 0 {
		markErr = writeFileAtomic(s.fs, filepath.Join(s.cfg.Dir, cleanShutdownFile), markerBytes(s.brokerEpoch.Load()))
	}
	lockErr := s.lock.Close()
	return errors.Join(closeErr, ckErr, markErr, lockErr)
}

func (s *store) closeLogs() error {
	logs := s.logs()
	errs := make([]error, len(logs))
	// Several at once: each Close fsyncs its log's files, some new (a
	// segment's indexes written at its seal, the leader-epoch checkpoint),
	// and concurrent fsyncs share the file system's journal commits
	// instead of paying one each. Logs close independently.
	lanes.Run(len(logs), closeWorkers, func(i int) { errs[i] = logs[i].Close() })
	return errors.Join(errs...)
}

// closeWorkers is how many logs a store's Close closes at once, and
// loadWorkers how many its open loads at once.
const (
	closeWorkers = 16
	loadWorkers  = 16
)

// partition.metadata, Kafka's format: "version: 0" and "topic_id: <id>"
// with the UUID in URL-safe base64 without padding.
func writePartitionMetadata(fsys vfs.FS, dir string, id [16]byte) error {
	return writeFileAtomic(fsys, filepath.Join(dir, partitionMetadataFile), partitionMetadataBody(id))
}

func partitionMetadataBody(id [16]byte) []byte {
	return fmt.Appendf(nil, "version: 0\ntopic_id: %s\n", base64.RawURLEncoding.EncodeToString(id[:]))
}

func readPartitionMetadata(dir string) ([16]byte, error) {
	var id [16]byte
	p := filepath.Join(dir, partitionMetadataFile)
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return id, nil
	}
	if err != nil {
		return id, fmt.Errorf("cannot read %q: %w", p, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "topic_id" {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(raw) != 16 {
			return id, fmt.Errorf("%q: bad topic_id %q", p, strings.TrimSpace(v))
		}
		copy(id[:], raw)
	}
	return id, nil
}

// markerBytes is the clean-shutdown marker, Kafka's
// CleanShutdownFileHandler JSON: {"version":0,"brokerEpoch":N}, without
// brokerEpoch when the broker epoch is unknown (-1).
func markerBytes(brokerEpoch int64) []byte {
	if brokerEpoch < 0 {
		return []byte("{\"version\":0}\n")
	}
	return fmt.Appendf(nil, "{\"version\":0,\"brokerEpoch\":%d}\n", brokerEpoch)
}

// readMarkerEpoch returns the brokerEpoch of the marker at path, -1 when
// it names none or cannot be read (the broker then counts as having shut
// down uncleanly, the safe side).
func readMarkerEpoch(fsys vfs.FS, path string) int64 {
	b, err := vfs.ReadFile(fsys, path)
	if err != nil {
		return -1
	}
	var m struct {
		BrokerEpoch *int64 `json:"brokerEpoch"`
	}
	if json.Unmarshal(b, &m) != nil || m.BrokerEpoch == nil || *m.BrokerEpoch < 0 {
		return -1
	}
	return *m.BrokerEpoch
}
