package broker

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The broker's own files in the data directory. Each is replaced whole:
// written to a temporary file, fsync'd, renamed over the old one, and the
// directory fsync'd.
const (
	metaPropertiesFile  = "meta.properties"    // Kafka's: node.id, cluster.id, version=1
	topicConfigsFile    = "topic-configs.json" // {"topic": {"retention.ms": "1000"}}
	producerIDBlockFile = "producer-id-block"  // 8 bytes big-endian: next unallocated producer id
)

// writeFileAtomic replaces dir/name with data durably.
func writeFileAtomic(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return fmt.Errorf("broker: cannot create temporary file for %q: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("broker: cannot write %q: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("broker: cannot fsync %q: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("broker: cannot close %q: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("broker: cannot rename %q to %q: %w", tmp.Name(), path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("broker: cannot open directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("broker: cannot fsync directory %q: %w", dir, err)
	}
	return nil
}

// readTopicConfigs reads topic-configs.json; a missing file is empty.
func readTopicConfigs(dir string) (map[string]map[string]string, error) {
	path := filepath.Join(dir, topicConfigsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: cannot read %q: %w", path, err)
	}
	out := map[string]map[string]string{}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("broker: cannot parse %q: %w", path, err)
	}
	return out, nil
}

func writeTopicConfigs(dir string, all map[string]map[string]string) error {
	data, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return fmt.Errorf("broker: cannot encode topic configs: %w", err)
	}
	return writeFileAtomic(dir, topicConfigsFile, append(data, '\n'))
}

// loadMetaProperties reads meta.properties, writing it on first start, and
// returns the cluster id. A node.id or cluster.id that disagrees with the
// configured one is an error (the directory belongs to another broker), as
// in Kafka.
func loadMetaProperties(dir string, nodeID int32, clusterID string) (string, error) {
	path := filepath.Join(dir, metaPropertiesFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if clusterID == "" {
			clusterID = newClusterID()
		}
		return clusterID, writeMetaProperties(dir, nodeID, clusterID)
	}
	if err != nil {
		return "", fmt.Errorf("broker: cannot read %q: %w", path, err)
	}
	props := parseProperties(data)
	if got := props["node.id"]; got != strconv.Itoa(int(nodeID)) {
		return "", fmt.Errorf("broker: %q has node.id=%s, configured node id is %d", path, got, nodeID)
	}
	stored := props["cluster.id"]
	if stored == "" {
		return "", fmt.Errorf("broker: %q has no cluster.id", path)
	}
	if clusterID != "" && clusterID != stored {
		return "", fmt.Errorf("broker: %q has cluster.id=%s, configured cluster id is %s", path, stored, clusterID)
	}
	return stored, nil
}

func writeMetaProperties(dir string, nodeID int32, clusterID string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#\n#%s\n", time.Now().UTC().Format(time.UnixDate))
	fmt.Fprintf(&b, "cluster.id=%s\nnode.id=%d\nversion=1\n", clusterID, nodeID)
	return writeFileAtomic(dir, metaPropertiesFile, b.Bytes())
}

// parseProperties parses the key=value lines of a Java properties file
// (comments and blank lines skipped; no escapes, which Kafka does not write).
func parseProperties(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// newClusterID is Kafka's format: a random UUID in URL-safe base64 without
// padding (22 characters).
func newClusterID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	return base64.RawURLEncoding.EncodeToString(u[:])
}

// producerIDs allocates producer ids that are never reused, even across
// restarts. Ids are handed out from an in-memory block. Alone (no
// controller), reserving the next block rewrites producer-id-block, which
// holds the first id not yet reserved (fsync'd first). With a controller
// quorum, blocks come from the active controller (reserve, set once the
// broker joins the cluster: AllocateProducerIds), unique across brokers;
// the file then only gives a floor, the ids a single-node directory handed
// out before it joined a cluster: a block's ids below it are skipped. A
// restart skips the unused rest of the current block either way.
type producerIDs struct {
	dir   string
	block int64
	// reserve, when set, gets the next block [first, first+size) from the
	// controller. Set before the broker serves requests.
	reserve func() (first, size int64, err error)
	// refill serializes reservations; mu is not held across their I/O.
	refill sync.Mutex
	mu     struct {
		sync.Mutex
		next  int64 // next id to hand out
		limit int64 // first id not reserved (in the file, or by the controller)
		floor int64 // the file's value at open: no id below it is handed out
	}
}

func openProducerIDs(dir string, block int64) (*producerIDs, error) {
	p := &producerIDs{dir: dir, block: block}
	path := filepath.Join(dir, producerIDBlockFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("broker: cannot read %q: %w", path, err)
	case len(data) != 8:
		return nil, fmt.Errorf("broker: %q has %d bytes, want 8", path, len(data))
	default:
		v := int64(binary.BigEndian.Uint64(data))
		if v < 0 {
			return nil, fmt.Errorf("broker: %q holds negative id %d", path, v)
		}
		p.mu.next, p.mu.limit, p.mu.floor = v, v, v
	}
	return p, nil
}

// next returns a fresh producer id.
func (p *producerIDs) next() (int64, error) {
	for {
		p.mu.Lock()
		if p.mu.next < p.mu.limit {
			id := p.mu.next
			p.mu.next++
			p.mu.Unlock()
			return id, nil
		}
		p.mu.Unlock()
		if err := p.refillBlock(); err != nil {
			return 0, err
		}
	}
}

// refillBlock reserves the next block unless another caller just did.
func (p *producerIDs) refillBlock() error {
	p.refill.Lock()
	defer p.refill.Unlock()
	p.mu.Lock()
	next, limit, floor := p.mu.next, p.mu.limit, p.mu.floor
	p.mu.Unlock()
	if next < limit {
		return nil
	}
	if p.reserve != nil {
		first, size, err := p.reserve()
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.mu.next, p.mu.limit = max(first, floor), first+size // empty when all below the floor: reserve again
		p.mu.Unlock()
		return nil
	}
	limit += p.block
	if err := writeFileAtomic(p.dir, producerIDBlockFile, binary.BigEndian.AppendUint64(nil, uint64(limit))); err != nil {
		return fmt.Errorf("cannot reserve producer ids: %w", err)
	}
	p.mu.Lock()
	p.mu.limit = limit
	p.mu.Unlock()
	return nil
}
