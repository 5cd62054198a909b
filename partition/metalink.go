package partition

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/sluice/sluice/internal/vfs"
)

// metaLinks lets the partition directories of one topic share one
// partition.metadata inode: their files are byte for byte the same (the
// topic id), and on ext4 the creation of an inode, not of a name, is what
// a new partition's first append pays most for (docs/BENCHMARKS.md, "Then:
// a topic's partitions share one partition.metadata inode"). For each
// topic id it remembers the path of one partition.metadata this store
// wrote; the next directory of that topic made without an fsync of its
// own (createPartitionDir with sync false: CreateLogsLazy's first
// appends, CreateLogs of many partitions) links that path instead of
// creating a file.
//
// A link is checked, not trusted: after link(2) the new name is read back
// and must hold the topic's body, else it is removed and the file created
// as before; any failure of the link itself (the source's directory
// deleted, EMLINK, a file system without hard links) falls back to the
// creation too, and the created file becomes the topic's source. Sharing
// an inode is safe because nothing writes a partition.metadata in place:
// Sluice replaces one by a temporary file and a rename
// (writePartitionMetadata), as Kafka does, which gives that directory a
// new inode and leaves its siblings alone; a deletion unlinks one name.
type metaLinks struct {
	mu  sync.Mutex
	src map[[16]byte]string
}

// maxMetaLinks bounds the map: a store that has made directories for this
// many topics forgets them all and starts again (entries of deleted topics
// are otherwise never removed; a forgotten topic's next directory creates
// its file, which becomes its source again).
const maxMetaLinks = 1024

func (m *metaLinks) get(id [16]byte) string {
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.src[id]
}

func (m *metaLinks) put(id [16]byte, path string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.src == nil || len(m.src) >= maxMetaLinks {
		m.src = make(map[[16]byte]string)
	}
	m.src[id] = path
}

// linkPartitionMetadata gives dir (a new directory of topic id, not yet
// renamed into place) a partition.metadata that is a link to src, and
// reports whether it did: false, with nothing left in dir, when the link
// fails or the linked file does not hold body. An error means a link it
// made could not be removed again: dir must not be used, since creating
// the file over the link would truncate the other directory's file.
func linkPartitionMetadata(fsys vfs.FS, src, dir string, body []byte) (bool, error) {
	dst := filepath.Join(dir, partitionMetadataFile)
	if err := fsys.Link(src, dst); err != nil {
		return false, nil
	}
	if b, err := vfs.ReadFile(fsys, dst); err == nil && bytes.Equal(b, body) {
		return true, nil
	}
	if err := fsys.Remove(dst); err != nil {
		return false, fmt.Errorf("cannot remove %q, linked to %q: %w", dst, src, err)
	}
	return false, nil
}
