package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// remover removes the directories of deleted logs in the background, one
// file at a time, as Kafka's LogManager deletes `-delete` directories from
// a scheduled task rather than in the request that deleted the topic.
// Unlinking a large file frees its extents inside the call (8 GiB in ~2.7 s
// on ext4 here), and a deletion runs under the topic's lock inside the
// caller's work: a cluster's reconcile pass, a DeleteTopics request.
//
// A queued directory already carries its `-delete` name (topicstate.go,
// detach) and the data directory was fsync'd after the rename, so nothing
// depends on when it goes: a stop leaves it for the next start, which
// queues every leftover `-delete` directory again (store.go, loadEntry).
type remover struct {
	mu struct {
		sync.Mutex
		queue []string
		busy  bool       // a directory is being removed
		done  bool       // the goroutine stopped: later directories wait for the next start
		idle  *sync.Cond // broadcast when the queue empties and nothing is busy
	}
	wake chan struct{} // one pending signal
}

func (r *remover) init() {
	r.mu.idle = sync.NewCond(&r.mu.Mutex)
	r.wake = make(chan struct{}, 1)
}

// enqueue hands directories to the background removal.
func (r *remover) enqueue(dirs ...string) {
	if len(dirs) == 0 {
		return
	}
	r.mu.Lock()
	if !r.mu.done {
		r.mu.queue = append(r.mu.queue, dirs...)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// next takes the first queued directory, marking the remover busy; ok is
// false when the queue is empty.
func (r *remover) next() (dir string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.busy = false
	if len(r.mu.queue) == 0 {
		r.mu.idle.Broadcast()
		return "", false
	}
	dir, r.mu.queue = r.mu.queue[0], r.mu.queue[1:]
	r.mu.busy = true
	return dir, true
}

// pending is how many directories wait or are being removed.
func (r *remover) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.mu.queue)
	if r.mu.busy {
		n++
	}
	return n
}

// startRemover runs the background removal until the store stops.
func (s *store) startRemover() {
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		defer s.rm.stopped()
		for {
			for {
				dir, ok := s.rm.next()
				if !ok {
					break
				}
				if err := s.removeDir(dir); err != nil {
					if errors.Is(err, errStopped) {
						return
					}
					// The name keeps its suffix: the next start tries again.
					s.logger.Warn("cannot remove a deleted log's directory; the next start retries", "dir", dir, "err", err)
				}
			}
			select {
			case <-s.stop:
				return
			case <-s.rm.wake:
			}
		}
	}()
}

// stopped wakes anyone waiting for the queue once the goroutine is gone:
// what is left stays for the next start.
func (r *remover) stopped() {
	r.mu.Lock()
	r.mu.queue, r.mu.busy, r.mu.done = nil, false, true
	r.mu.idle.Broadcast()
	r.mu.Unlock()
}

// awaitRemovals waits until every queued directory is removed (or the store
// stopped): for tests.
func (s *store) awaitRemovals() {
	r := &s.rm
	r.mu.Lock()
	for len(r.mu.queue) > 0 || r.mu.busy {
		r.mu.idle.Wait()
	}
	r.mu.Unlock()
}

var errStopped = errors.New("store stopped")

// removeDir removes a deleted log's directory file by file, checking
// between files whether the store is stopping, so that Close waits for one
// file, not a whole partition. A partition directory holds only files; a
// directory inside one (none is made) goes with RemoveAll.
func (s *store) removeDir(dir string) error {
	entries, err := s.fs.List(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("cannot list %q: %w", dir, err)
	}
	for _, e := range entries {
		select {
		case <-s.stop:
			return errStopped
		default:
		}
		p := filepath.Join(dir, e.Name())
		rm := s.fs.Remove
		if e.IsDir() {
			rm = s.fs.RemoveAll
		}
		if err := rm(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cannot remove %q: %w", p, err)
		}
	}
	if err := s.fs.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove %q: %w", dir, err)
	}
	return nil
}
