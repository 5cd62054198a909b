package controller

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sluice/sluice/metadata"
)

// FSM is the Raft state machine: the metadata image. Apply runs on raft's
// FSM goroutine only; Image may be called from any goroutine.
type FSM struct {
	image atomic.Pointer[metadata.Image]
	mu    struct {
		sync.Mutex
		changed chan struct{} // closed at the next swap
	}
	lag applyLag // the last entry's stamp (applylag.go)
}

// NewFSM returns a state machine holding the empty image.
func NewFSM() *FSM {
	f := &FSM{}
	f.image.Store(metadata.Empty)
	f.mu.changed = make(chan struct{})
	return f
}

// Image returns the current image: a consistent, immutable snapshot.
func (f *FSM) Image() *metadata.Image { return f.image.Load() }

// Changed returns a channel closed when the image is next replaced. Take
// it before reading Image, so no change is missed:
//
//	ch := f.Changed(); im := f.Image(); …; <-ch // a newer image exists
func (f *FSM) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.changed
}

func (f *FSM) swap(im *metadata.Image) {
	f.image.Store(im)
	f.mu.Lock()
	close(f.mu.changed)
	f.mu.changed = make(chan struct{})
	f.mu.Unlock()
}

// Apply applies one committed batch. A batch that does not decode or does
// not apply is refused whole, on every node alike; the error is the
// proposal's response.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	recs, err := metadata.DecodeBatch(l.Data)
	if err != nil {
		return fmt.Errorf("controller: log entry %d: %w", l.Index, err)
	}
	next, err := f.image.Load().Apply(recs)
	if err != nil {
		return fmt.Errorf("controller: log entry %d: %w", l.Index, err)
	}
	st := ApplyStamp{Index: l.Index, AppendedAt: l.AppendedAt, AppliedAt: time.Now()}
	f.lag.image.Store(&stampedImage{next, st})
	f.swap(next)
	f.lag.observe(StageImage, st)
	return nil
}

// Snapshot captures the current image; Persist encodes it off the FSM
// goroutine (the image is immutable).
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return fsmSnapshot{f.image.Load()}, nil
}

// Restore replaces the image with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("controller: cannot read snapshot: %w", err)
	}
	im, err := metadata.DecodeSnapshot(b)
	if err != nil {
		return fmt.Errorf("controller: cannot restore snapshot: %w", err)
	}
	f.lag.image.Store(&stampedImage{im, ApplyStamp{AppliedAt: time.Now()}})
	f.swap(im)
	return nil
}

type fsmSnapshot struct{ im *metadata.Image }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.im.AppendSnapshot(nil)); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("controller: cannot write snapshot: %w", err)
	}
	return sink.Close()
}

func (fsmSnapshot) Release() {}
