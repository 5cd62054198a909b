package netio

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"

	"github.com/sluice/sluice/sendfile"
	"golang.org/x/sys/unix"
)

// copyBufSize is the buffer of the copy fallback (sendfile unsupported).
const copyBufSize = 128 << 10

// writerState belongs to the goroutine that took a batch (c.mu.writing):
// the writer goroutine, or a request or completer goroutine writing its
// own responses (sendQueued).
type writerState struct {
	spare []outItem // the previous batch's array, reused for the queue
	hdrs  []byte    // size prefixes of the current batch, 4 bytes each
	iov   [][]byte  // byte runs waiting for one writev
	// bufs is iov as net.Buffers while it is written: WriteTo takes a
	// pointer and advances it, and a field of the (heap) conn costs no
	// allocation per writev, as a local did.
	bufs    net.Buffers
	copyBuf []byte // allocated on first use of the copy fallback
	files   bool   // the batch has a file region (queueFile when taken)
}

// Writing responses in place (package doc): the goroutine that queued a
// response (the request goroutine, or the completer for a pipelined one)
// writes the queue itself when nothing waits after it, the queue holds
// only byte runs, at most inlineMax of them, and nobody else is writing;
// no hand-off to the writer goroutine. While the connection's next frame
// is quick (QuickChecker), it holds its responses back instead, at most
// holdMax of them, so that responses ready together leave in one writev.
const (
	inlineMax = 64 << 10
	holdMax   = 32
)

// next is what follows a queued response on its goroutine.
type next int

const (
	nextNone  next = iota // nothing waiting: write the queue in place
	nextQuick             // a quick frame, or a complete flight: hold the queue
	nextSlow              // a frame that may wait: leave the queue to the writer goroutine
)

// sendQueued sends what c has queued, after the calling goroutine queued
// a response: nothing while the next request is quick and the queue may
// be held; the writer goroutine's job when a request that may wait
// follows (the write overlaps it, and a batch forms as before), or when
// the queue has file regions or more than inlineMax bytes; else the
// calling goroutine writes the queue itself. A queue someone is writing
// is theirs: finishBatch looks again.
func (c *conn) sendQueued(nx next) {
	c.mu.Lock()
	if len(c.mu.queue) == 0 || c.mu.writing || c.mu.closed || c.mu.wdone {
		c.mu.Unlock()
		return
	}
	small := !c.mu.queueFile && c.mu.respBytes <= inlineMax
	if nx == nextQuick && small && len(c.mu.queue) < holdMax && c.mu.respBytes < c.srv.cfg.ConnBudgetBytes {
		c.mu.Unlock()
		return
	}
	if !small || nx == nextSlow {
		c.wakeWriterLocked()
		c.mu.Unlock()
		return
	}
	batch := c.takeBatchLocked()
	c.mu.Unlock()
	c.srv.stats.inlineBatches.Add(1)
	c.sendBatch(batch)
}

// wakeWriterLocked wakes the writer goroutine, starting it on first use:
// a connection whose responses are all written in place never has one.
// The caller is a goroutine of c counted in srv.conns, so the count is
// not zero while Shutdown may wait on it.
func (c *conn) wakeWriterLocked() {
	switch {
	case c.mu.closed || c.mu.wdone:
	case c.mu.writerOn:
		kick(c.writeKick)
	default:
		c.mu.writerOn = true
		c.srv.conns.Add(1)
		go c.writeLoop()
	}
}

// writeLoop is the writer goroutine, started on first use
// (wakeWriterLocked): it sends what the goroutines that queue responses
// leave to it (file regions, large responses, what precedes a request
// that may wait), each batch of byte runs with one writev and each file
// region with sendfile(2), and releases every region it took.
func (c *conn) writeLoop() {
	defer c.srv.conns.Done()
	for {
		batch, ok := c.nextBatch()
		if !ok {
			return
		}
		c.srv.stats.writerBatches.Add(1)
		if !c.sendBatch(batch) {
			return
		}
	}
}

// sendBatch writes a batch taken from the queue, hands c.w back, and
// reports false once nothing more may be written (a write failed, or the
// batch ended with a close request, which it makes).
func (c *conn) sendBatch(batch []outItem) bool {
	closeAfter, err := c.writeBatch(batch)
	end := err != nil || closeAfter
	c.finishBatch(batch, end)
	if err != nil {
		c.srv.log.Debug("netio: write failed; closing connection", "conn", c.pub.id,
			"remote", c.pub.remoteAddr, "err", err)
	}
	if end {
		c.requestClose()
	}
	return !end
}

// nextBatch waits for queued responses nobody else is writing and takes
// all of them.
func (c *conn) nextBatch() ([]outItem, bool) {
	for {
		c.mu.Lock()
		if c.mu.closed || c.mu.wdone {
			c.mu.Unlock()
			return nil, false
		}
		if len(c.mu.queue) > 0 && !c.mu.writing {
			batch := c.takeBatchLocked()
			c.mu.Unlock()
			return batch, true
		}
		c.mu.Unlock()
		select {
		case <-c.writeKick:
		case <-c.done:
		}
	}
}

// takeBatchLocked takes the whole queue for the caller to write; the
// caller owns c.w until finishBatch.
func (c *conn) takeBatchLocked() []outItem {
	batch := c.mu.queue
	c.mu.queue = c.w.spare[:0]
	c.w.spare = nil
	c.w.files = c.mu.queueFile
	c.mu.queueFile = false
	c.mu.writing = true
	c.lastWrite.Store(nowNano())
	return batch
}

// finishBatch refunds the batch's bytes, keeps its array for reuse and
// hands c.w back; end: nothing more may be written. It wakes the request
// goroutine if the refund gave it room (nextFrame), and the writer if
// responses were queued meanwhile (their goroutines saw c.w taken).
func (c *conn) finishBatch(batch []outItem, end bool) {
	// Nothing refers to the batch's bytes any more (a failed write may
	// have left runs in the writev's vector): its small responses go back
	// to their pool.
	clear(c.w.iov)
	c.w.iov = c.w.iov[:0]
	var sent int64
	for _, it := range batch {
		sent += it.size
		if it.resp != nil {
			it.resp.recycle()
		}
	}
	clear(batch)
	c.w.spare = batch[:0]
	c.mu.Lock()
	c.mu.writing = false
	c.mu.wdone = c.mu.wdone || end
	room := false
	if !c.mu.closed {
		full := c.mu.respBytes >= c.srv.cfg.ConnBudgetBytes
		c.mu.respBytes -= sent
		c.chargeLocked(-sent)
		room = full && c.mu.respBytes < c.srv.cfg.ConnBudgetBytes
	}
	if len(c.mu.queue) > 0 {
		c.wakeWriterLocked()
	}
	c.checkDrainedLocked()
	c.mu.Unlock()
	if room {
		kick(c.reqKick)
	}
}

// writeBatch sends batch's responses in order. It stops at a close
// request. On error it releases the regions it did not send.
func (c *conn) writeBatch(batch []outItem) (closeAfter bool, err error) {
	w := &c.w
	if need := sizeLen * len(batch); cap(w.hdrs) < need {
		w.hdrs = make([]byte, need)
	}
	w.hdrs = w.hdrs[:sizeLen*len(batch)]
	if c.w.files && c.tls == nil && smallRegions(batch) {
		// Corked, the batch's byte runs and file regions leave in as
		// few TCP segments as they fill, not one per run and per
		// region (a Fetch answer at the log's end: a few hundred bytes
		// per partition, each region with framing before it).
		c.setCork(true)
		defer c.setCork(false)
	}
	for i, it := range batch {
		if it.closeAfter {
			releaseItems(batch[i+1:]) // none: the request goroutine stopped
			return true, c.flush()
		}
		if err := c.appendResponse(w.hdrs[sizeLen*i:sizeLen*(i+1)], it.resp); err != nil {
			releaseItems(batch[i+1:])
			return false, err
		}
	}
	return false, c.flush()
}

// corkRegionMax is the average file-region size up to which a batch is
// corked. Larger regions leave in full segments on their own, and the
// cork cost a consumer catching up (8 MiB Fetches of 2 MiB regions)
// 10-20% more broker CPU per GB (docs/BENCHMARKS.md, "the cork only
// for small regions").
const corkRegionMax = 64 << 10

// smallRegions reports whether batch's file regions average under
// corkRegionMax bytes: a Fetch answer at the log's end, whose framing
// and regions would otherwise leave as a segment each.
func smallRegions(batch []outItem) bool {
	var n, bytes int64
	for _, it := range batch {
		if it.resp == nil {
			continue
		}
		for _, p := range it.resp.parts {
			if p.isFile {
				n++
				bytes += p.region.Len
			}
		}
	}
	return n > 0 && bytes < n*corkRegionMax
}

// setCork sets TCP_CORK on the socket. Clearing it sends what it held.
// An error is ignored: without the cork the bytes still leave, in more
// segments.
func (c *conn) setCork(on bool) {
	v := 0
	if on {
		v = 1
	}
	_ = c.raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, v)
	})
}

// appendResponse adds r's size prefix and byte runs to the pending writev
// and sends its regions (after flushing what precedes them). It releases
// each region once sent, and on error every region not yet released.
func (c *conn) appendResponse(hdr []byte, r *Response) error {
	n := r.Len()
	if n > math.MaxInt32-sizeLen {
		r.Release()
		return fmt.Errorf("netio: response of %d bytes exceeds the int32 size prefix", n)
	}
	binary.BigEndian.PutUint32(hdr, uint32(n))
	c.w.iov = append(c.w.iov, hdr)
	for j, p := range r.parts {
		if !p.isFile {
			if len(p.b) > 0 {
				c.w.iov = append(c.w.iov, p.b)
			}
			continue
		}
		err := c.flush()
		if err == nil {
			err = c.sendRegion(p.region, r.replica)
		}
		p.region.Release()
		if err != nil {
			releaseParts(r.parts[j+1:])
			return err
		}
	}
	return nil
}

// flush writes the pending byte runs with writev.
func (c *conn) flush() error {
	if len(c.w.iov) == 0 {
		return nil
	}
	var err error
	if c.tls != nil {
		err = c.writeTLSRuns(c.w.iov)
	} else {
		c.w.bufs = c.w.iov
		_, err = c.w.bufs.WriteTo(c.tcp)
		c.w.bufs = nil
	}
	clear(c.w.iov)
	c.w.iov = c.w.iov[:0]
	if err != nil {
		return fmt.Errorf("netio: writev: %w", err)
	}
	c.progress()
	return nil
}

// progress records that bytes left: the connection is active and its
// writer not stuck.
func (c *conn) progress() {
	now := nowNano()
	c.lastWrite.Store(now)
	c.lastActive.Store(now)
}

// writeChunk is the most a region send goes without recording progress:
// a client reading slower than writeChunk per IdleTimeout is cut off.
const writeChunk = 1 << 20

// sendRegion sends r in chunks of writeChunk, recording progress after
// each; replica: r answers a follower's Fetch (Response.MarkReplica).
func (c *conn) sendRegion(r sendfile.Region, replica bool) error {
	for r.Len > writeChunk {
		chunk := r
		chunk.Len = writeChunk
		if err := c.sendChunk(chunk, replica); err != nil {
			return err
		}
		c.progress()
		r.Off += writeChunk
		r.Len -= writeChunk
	}
	if err := c.sendChunk(r, replica); err != nil {
		return err
	}
	c.progress()
	return nil
}

// sendChunk sends r with sendfile(2), or copies it when sendfile is not
// supported for this file or socket (or the connection is TLS). A
// replica's bytes are counted as sent by sendfile or copied.
func (c *conn) sendChunk(r sendfile.Region, replica bool) error {
	if c.tls != nil {
		n, err := c.copyTLS(r)
		if replica {
			c.srv.stats.replicaCopied.Add(uint64(n))
		}
		return err
	}
	n, err := sendfile.Send(c.raw, r)
	if replica {
		c.srv.stats.replicaSendfile.Add(uint64(n))
	}
	if err == nil || !sendfile.IsUnsupported(err) {
		return err
	}
	if c.w.copyBuf == nil {
		c.w.copyBuf = make([]byte, copyBufSize)
	}
	r.Off += n
	r.Len -= n
	m, err := sendfile.Copy(c.tcp, r, c.w.copyBuf)
	if replica {
		c.srv.stats.replicaCopied.Add(uint64(m))
	}
	return err
}

func releaseParts(parts []part) {
	for _, p := range parts {
		if p.isFile {
			p.region.Release()
		}
	}
}

func releaseItems(items []outItem) {
	for _, it := range items {
		if it.resp != nil {
			it.resp.Release()
		}
	}
}
