package partition

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice/sluice/segment"
)

// WritePool runs the writers of logs whose appends were submitted with
// SubmitTo on a fixed set of goroutines instead of one goroutine per log.
//
// A log with appends queued is listed once (FIFO); a worker takes the
// first log listed, writes one round of what is queued on it (one
// pwritev), and lists it again at the end if more queued meanwhile. While
// the workers are behind, every log's queue keeps growing, so a round
// holds the appends of every request submitted since that log's last
// round: with many partitions per request (1,000 x 1 KiB: ~5 KB per
// partition per request) the pool writes several requests' batches to a
// partition with one pwritev, and the kernel's cost per write (ext4 takes
// about as much per pwritev as per 4 KiB copied at that size) is shared.
// An idle pool writes a log as soon as it is listed: nothing waits for
// company. One worker starts when a log is listed; another only when more
// than workerBacklog logs wait per running worker (1,000 partitions, ~10
// KB each per request): one worker writing hundreds of logs one after
// another becomes the stage every request waits on while the other core
// idles, and a second halves it; with few partitions (16 x 1 KiB: ~290
// KB per write) one worker keeps up, and a second only takes the core
// that reads and validates the requests. Under FlushAlways a round also
// fsyncs, which blocks a worker for the disk: such logs are better left
// to Submit (a writer goroutine each, whose fsyncs overlap).
//
// A worker that finds nothing listed waits up to workerLinger for a log
// before it returns: a worker started afresh grows its stack again
// through the write path (runtime.copystack, ~2% of the broker's CPU at
// 16 x 100 B, where requests come one at a time and every round emptied
// the pool), while a waiting one keeps it and is woken as cheaply as a new
// one is started.
//
// Lock order: a log's mu, then the pool's mu (SubmitTo lists a log while
// holding the log's mu; a worker never takes a log's lock under the
// pool's).
type WritePool struct {
	workers int
	linger  atomic.Int64  // nanoseconds: workerLinger; tests shorten it
	wake    chan struct{} // one token per idle worker claimed by list
	mu      struct {
		sync.Mutex
		logs    []*log // listed logs; logs[head:] are waiting
		head    int
		running int // workers started and not returned, at most workers
		idle    int // of those, waiting for a log and not claimed
		started int // workers ever started (tests)
	}
}

// workerLinger is how long a worker with nothing to write waits for a log
// before it returns.
const workerLinger = 100 * time.Millisecond

// workerBacklog is how many listed logs wait per running worker before
// the pool starts another (WritePool).
const workerBacklog = 64

// NewWritePool returns a pool of at most workers goroutines (at least 1).
// Workers are started when logs are listed and return when none has been
// for workerLinger, so an idle pool holds no goroutine and needs no Close.
func NewWritePool(workers int) *WritePool {
	workers = max(workers, 1)
	p := &WritePool{workers: workers, wake: make(chan struct{}, workers)}
	p.linger.Store(int64(workerLinger))
	return p
}

// list queues l for a worker. Called with l.mu held and l.mu.writing
// just set.
func (p *WritePool) list(l *log) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.logs = append(p.mu.logs, l)
	waiting := len(p.mu.logs) - p.mu.head
	busy := p.mu.running - p.mu.idle
	if busy > 0 && (busy >= p.workers || waiting <= workerBacklog*busy) {
		return
	}
	if p.mu.idle > 0 {
		p.mu.idle--
		p.wake <- struct{}{} // never blocks: at most workers tokens
		return
	}
	p.mu.running++
	p.mu.started++
	go p.work()
}

// next returns the first listed log; nil when none is listed, and then
// the calling worker is counted idle.
func (p *WritePool) next() *log {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.head == len(p.mu.logs) {
		p.mu.idle++
		return nil
	}
	l := p.mu.logs[p.mu.head]
	p.mu.logs[p.mu.head] = nil
	p.mu.head++
	switch {
	case p.mu.head == len(p.mu.logs):
		p.mu.logs, p.mu.head = p.mu.logs[:0], 0
	case p.mu.head > 1024 && p.mu.head > len(p.mu.logs)/2:
		// Never empty for long: move the waiting logs to the front so
		// the array does not grow without bound.
		n := copy(p.mu.logs, p.mu.logs[p.mu.head:])
		clear(p.mu.logs[n:])
		p.mu.logs, p.mu.head = p.mu.logs[:n], 0
	}
	return l
}

func (p *WritePool) work() {
	t := time.NewTimer(time.Duration(p.linger.Load()))
	defer t.Stop()
	for {
		for l := p.next(); l != nil; l = p.next() {
			l.writeOneRound(p)
		}
		t.Reset(time.Duration(p.linger.Load()))
		select {
		case <-p.wake: // list claimed an idle worker: this one
			continue
		case <-t.C:
		}
		p.mu.Lock()
		if p.mu.idle > 0 { // unclaimed: return
			p.mu.idle--
			p.mu.running--
			p.mu.Unlock()
			return
		}
		// Every idle worker is claimed, so a token is on its way for
		// this one (tokens sent = workers claimed and not yet woken).
		p.mu.Unlock()
		<-p.wake
	}
}

// SubmitTo is Submit with the writing done by pool (see WritePool), or,
// pool nil, by a writer goroutine of the log's own as Submit's. With g
// not nil, g counts the append until it is done: a caller that submits
// many appends waits once with g.Wait, and then their Waits do not block.
// leaderEpoch is SubmitAsLeader's (-1: unchecked, as Submit); pre, as
// AppendPrechecked's, spares validation what was checked as the records
// arrived (nil: nothing).
func (l *Log) SubmitTo(pool *WritePool, g *SubmitGroup, records []byte, leaderEpoch int32, pre segment.Prechecks) *PendingAppend {
	if err := checkLeaderEpoch(leaderEpoch); err != nil {
		return &PendingAppend{err: err}
	}
	return l.submitTo(pool, g, records, leaderEpoch, pre)
}

// SubmitForWait is SubmitTo with no pool and no group, for a caller that
// waits for the append soon after (a connection's completer under
// fsync=always): when no writer runs, none is started. The log owes one
// instead, and the first Wait on one of its appends writes a round in the
// waiting goroutine: the fsync the caller waits for anyway, without a
// goroutine started for it and woken on another processor (~0.9 ms each
// on a busy 2-core host, docs/BENCHMARKS.md). A writer goroutine takes
// what queued meanwhile. An Append to the log, or a Wait on any later
// append to it, also takes the writer's part; an append nobody waits for
// and nothing follows stays queued, unwritten.
func (l *Log) SubmitForWait(records []byte, leaderEpoch int32, pre segment.Prechecks) *PendingAppend {
	if err := checkLeaderEpoch(leaderEpoch); err != nil {
		return &PendingAppend{err: err}
	}
	return l.submitIn(nil, nil, true, records, leaderEpoch, pre)
}

// SubmitGroup counts the appends submitted with it (SubmitTo) that are
// not done yet. Its zero value is ready to use.
type SubmitGroup struct{ wg sync.WaitGroup }

// Wait waits until every append submitted with g so far is done, so
// that one wake-up serves them all instead of one per PendingAppend.
func (g *SubmitGroup) Wait() { g.wg.Wait() }
