// Package netio is Sluice's network layer: an accept goroutine takes
// connections, gnet event loops read and frame requests; per connection,
// one goroutine serves requests in order and writes small responses
// itself, and a writer goroutine, started on first use, writes the rest:
// file regions by sendfile(2).
//
// # Request frame
//
// Every Kafka request and response is a size-prefixed frame:
//
//	+----------------------+-------------------------------+-------------+
//	| size int32 (4B, BE)  | request header                | body        |
//	|                      | api_key int16, api_version    |             |
//	|                      | int16, correlation_id int32,  |             |
//	|                      | client_id, [tagged fields]    |             |
//	+----------------------+-------------------------------+-------------+
//	                       |<------------------ size bytes --------------->|
//
// size < 0 or size > MaxRequestBytes closes the connection before anything
// is allocated. A connection whose first three bytes are a TLS handshake
// record header (0x16 0x03 0x00-0x04: a ClientHello from a client with
// security.protocol=SSL or SASL_SSL; read as a size, about 369 MB) is
// answered with a TLS handshake_failure alert and closed at once (Kafka
// closes it without the alert; see refuseTLS), counted
// (Stats.RefusedTLS) and logged once per client IP per
// WrongProtocolLogEvery, naming security.protocol. netio hands the Handler the size bytes after the prefix
// and adds the prefix to each response body (| size int32 | body |).
//
// # Goroutines and ownership
//
//	accept goroutine ──socket──▶ gnet event loop ──frames──▶ request goroutine ──responses──▶ writer goroutine
//	(limits, EMFILE)             (read, frame, copy)         (Handler.Handle, one at a time;  (writev + sendfile on a dup fd;
//	                                                          writev of small responses)       started on first use)
//	                             or, once muted: read goroutine (reads only while the budget has room)
//
// Who does what:
//
//   - One accept goroutine per listener (Config.Listeners: PLAINTEXT,
//     SASL_PLAINTEXT, … on their own ports; all share the event loops and
//     the limits) owns its listening socket and tags each connection with
//     its listener (Conn.ListenerName, Conn.SecurityProtocol). The spare
//     descriptor below is shared under reserveMu. It is a *net.TCPListener,
//     not gnet's: gnet v2.9.0's acceptor stops the whole engine on the
//     first EMFILE). It applies MaxConns, MaxConnsPerIP and
//     MaxConnCreationRate (Kafka's max.connections, max.connections.per.ip,
//     max.connection.creation.rate): a connection over a limit is reset at
//     once and counted. It hands each admitted socket to an event loop with
//     gnet.Client.Enroll (gnet's event loops run without a listener).
//   - When accept fails for want of descriptors (EMFILE, ENFILE), the
//     accept goroutine closes a spare descriptor it keeps (/dev/null),
//     accepts the pending connection and resets it (its client sees it
//     closed at once instead of hanging in the backlog), takes the spare
//     back, and tries a real accept again: one connection shed per failed
//     accept, so service resumes as soon as descriptors are free. With no
//     spare (someone else took the descriptor), it backs off (5 ms
//     doubling to 500 ms; reset by the next accept). It logs at most one warning per 10 s and counts
//     AcceptErrors and ConnsShed. Existing connections are served
//     throughout. A connection whose setup (gnet's dup, the writer's dup)
//     fails for want of descriptors is shed the same way. Health reports
//     ErrNotAccepting from then until a connection is set up again or
//     Health can open the 3 descriptors a new connection needs, and for
//     good if the listener failed otherwise.
//   - The event loop (OnTraffic) only frames: it peeks the 4-byte prefix
//     and queues each whole frame in a slice of its own (gnet reuses its
//     buffers). A frame that has only partly arrived, once the budget
//     admits it, gets its own buffer at once and each later read is copied
//     straight into it, so every request byte is copied once in user
//     space, from gnet's read buffer to the frame (before, partial frames
//     waited in gnet's ring buffer, which grew to the largest request and
//     kept that size, and were copied out again). A frame the Handler
//     will recycle (FrameRecycler: the broker's Produce frames) over
//     256 KiB is mapped outside the Go heap and taken at once, since its
//     pages cost memory only as its bytes arrive; any other frame over
//     256 KiB waits in gnet's buffer until an eighth of it has arrived,
//     so a client cannot make the
//     broker allocate more than 8 times what it sent. Frame buffers are
//     recycled (framepool.go). The event loop never does disk I/O, never
//     blocks and never writes to the socket.
//   - The request goroutine calls the Handler for one frame at a time in
//     arrival order (Kafka's per-connection ordering, which keeps an
//     idempotent producer's pipelined batches in order) and queues each
//     non-nil Response — or, for a Pending one, hands it to the completer
//     goroutine and goes on (Pipelining, below). It writes small
//     responses itself (Writing responses, below).
//   - The connection's socket, for writing, is a dup wrapped as a
//     *net.TCPConn (so Go's netpoller waits for writability). Whoever
//     writes takes every queued response at once, prepends each size,
//     sends runs of bytes with one writev and each file region with
//     sendfile.Send (sendfile.Copy if unsupported), releasing each region
//     once sent: the writer goroutine, or a goroutine writing in place.
//     A batch whose file regions average under 64 KiB is written with
//     the socket corked (TCP_CORK, cleared when the batch is done), so
//     the framing before each region and the region leave in full
//     segments: a Fetch answer at the log's end has a few hundred bytes
//     per partition, which took two segments each with TCP_NODELAY
//     alone. Larger regions (a consumer catching up) fill their
//     segments by themselves and are not corked: corked, they cost
//     10-20% more CPU per GB.
//     The regions of a response marked as a follower's Fetch
//     (Response.MarkReplica) are also counted as Stats.ReplicaSendfileBytes
//     or ReplicaCopiedBytes (TLS, or the copy fallback). gnet's own Write
//     is never used: gnet v2.9.0 has no writable callback, so a sendfile that
//     hits EAGAIN on the loop never resumes.
//   - A write error or a Handler error (after earlier responses are sent)
//     makes whoever wrote call gnet's Conn.Close, which is goroutine-safe (a
//     task queued to the event loop). OnClose, on the loop, closes the dup,
//     stops the connection's goroutines and releases every queued region; a Handler
//     still running finds the connection closed when it returns and
//     releases its response. gnet's Close and Wake are called only under
//     conn.mu and never after OnClose, because gnet closes the loop's
//     poller after the last OnClose at shutdown.
//   - A Handler panic is recovered, logged with its stack, counted and
//     closes its connection only.
//
// # Pipelining
//
// A Handler may split a request (netio.Pending): the part that must run
// in request order inside Handle (a produce's appends, queued on their
// logs), and a wait for its outcome (the fsync, acks=all's replicas)
// that the completer goroutine runs while the request goroutine handles
// the next frames. Responses still leave in request order:
//
//	frames ─▶ request goroutine ──▶ Handle(1) → Pending  ─┐
//	          (one Handle at a       Handle(2) → Pending  ─┤ flights, in request order
//	          time, in order)        Handle(3) → complete ─┘ (≤ MaxPending Pending)
//	                                                        │
//	          completer goroutine: wait(1), queue 1; wait(2), queue 2; queue 3
//	                                                        │
//	                                                        ▼
//	                                  response queue ──▶ written in place, or by the writer goroutine
//
// The rules:
//
//   - Once a response is Pending, every later one (Pending or complete)
//     goes through c.mu.flights behind it; a flight leaves flights only
//     when its response is queued, so a complete response cannot
//     overtake a pending one. With no flight, a complete response is
//     queued directly, as before.
//   - At most Config.MaxPending (default 5, a Kafka client's in-flight
//     limit) responses are pending: the request goroutine then waits for
//     the oldest wait to return. A pending request's frame stays charged
//     to ConnBudgetBytes until its response is queued, which bounds the
//     bytes in flight.
//   - Handle calls stay one at a time, so a Handler's connection state
//     (Conn.SetState) needs no lock; wait functions must not touch it. A
//     Handler that serves a request which must not overlap the pending
//     ones calls Conn.WaitPending first (the broker does for every
//     request but Produce). Conn.PendingAhead tells a Handler whether the
//     completer will come to the wait it returns now next (false) or only
//     after earlier waits (true): the broker leaves a produce's fsync to
//     the completer only in the first case.
//   - A wait that returns an error or panics is handled as Handle's:
//     the responses before it are sent, then the connection closes;
//     nothing handled after it is sent (the request goroutine stops, the
//     waits still run and their responses are released). When the
//     connection closes, pending waits still run to their end (a produce
//     is written anyway); their responses are released.
//   - The completer goroutine starts when the first flight is queued;
//     when flights is empty it waits completerLinger (5 ms) for the next
//     and exits if none comes or the connection closes: a producer that
//     pipelines keeps one completer (a fresh one per request grew its
//     stack each time), an idle connection has none.
//
// # Writing responses
//
// A hand-off to the writer goroutine costs a wake-up, and a writev costs a
// loopback delivery: for a connection of small requests these were much
// of the broker's CPU beside the append itself. So small responses are
// written where they are produced, and those ready together leave in one
// writev:
//
//	request goroutine: Handle(1) → queue 1 ─┐ next frame quick: hold
//	                   Handle(2) → queue 2 ─┤ next frame quick: hold
//	                   Handle(3) → queue 3 ─┘ no frame waiting: writev(1, 2, 3) itself
//	                   Handle(4) → queue 4    next frame may wait (a long poll): wake the writer goroutine
//	                   Handle(5) → Fetch with file regions: queue 5, wake the writer goroutine
//
// The rules (writer.go, sendQueued):
//
//   - One goroutine writes at a time (conn.mu.writing): it takes the whole
//     queue, so responses leave in request order whoever writes them. A
//     goroutine that finds the queue taken leaves what it queued: the
//     writer of the batch looks again when done and wakes the writer
//     goroutine for it.
//   - Hold: while the next frame waiting is quick — the Handler says so
//     from its bytes alone (QuickChecker; the broker: a Produce without a
//     transactional id) — the request goroutine queues without writing,
//     up to 32 responses and within both 64 KiB and ConnBudgetBytes. The
//     completer holds while the next flight is complete (it is queued at
//     once).
//   - In place: with no frame waiting (or, for the completer, before the
//     next wait), the goroutine writes the queue itself when it holds only
//     byte runs, at most 64 KiB.
//   - The writer goroutine, started on first use, sends the rest: a queue
//     with a file region or over 64 KiB (so sendfile and large writes
//     overlap the next requests, and a page-cache miss never stalls the
//     request goroutine), and what precedes a frame not known to be quick
//     (a long poll, a JoinGroup), which then waits for nothing; a Handler
//     without QuickChecker gets the writer goroutine's batching as before,
//     and in-place writes only when no frame waits.
//   - A write in place blocks its goroutine like the writer's: the write
//     timeout cuts it off the same way (closing the socket ends the
//     write), and a connection whose request goroutine is writing reads
//     no more requests meanwhile, as Kafka mutes a channel until its
//     response is sent. A failed write or a Handler error's close ends
//     writing for good (conn.mu.wdone).
//   - A Response made by NewSmallResponse (the broker's answers of at
//     most SmallResponseBytes, 256: a Produce of a few partitions) comes from a pool with its
//     buffer, and whoever wrote its batch hands it back once the writev
//     returned (finishBatch), whether the write succeeded or not; one
//     dropped unwritten (the connection closed first) is left to the
//     garbage collector. So a small request's answer costs no allocation.
//
// Stats.InlineBatches and WriterBatches count the batches written each
// way.
//
// # TLS listeners
//
// gnet cannot own a TLS session, so a listener with Config.TLS has no
// event loops: every connection is served by goroutines, and everything
// but reading and writing is shared with the gnet path.
//
//	accept goroutine ──socket──▶ read goroutine ──frames──▶ request goroutine ──responses──▶ writer goroutine
//	(limits, EMFILE)             (handshake, framing)       (Handler.Handle; small           (writes, region copies;
//	                                                         responses written in place)     started on first use)
//
// Where it differs:
//
//   - The read goroutine runs the handshake within HandshakeTimeout
//     (Stats.TLSHandshakeTimeouts; a failed one is TLSHandshakeFailures,
//     logged once per client IP per WrongProtocolLogEvery; a client that
//     refused it with an unencrypted alert, as OpenSSL does in TLS 1.3,
//     is logged with that alert, not crypto/tls's "bad record MAC"),
//     publishes the session on Conn.TLS, then frames exactly as a muted
//     connection's read goroutine does: it reads only while the budget
//     has room, so TCP pushes back on a client that pipelines without
//     reading.
//   - The writer coalesces byte runs in a pooled 64 KiB buffer (a size
//     prefix is not a record of its own) and copies each file region
//     through it (pread, encrypt, write; Stats.TLSCopiedBytes): no
//     sendfile without kTLS, which netio does not use.
//   - Closing a TLS connection closes its socket (no close_notify, which
//     could block under conn.mu); idle, write and frame timeouts, the
//     limits, muting's budget and Shutdown are the gnet path's.
//
// # Back-pressure (muting)
//
// Per connection, the bytes of frames dispatched and not yet served plus
// responses queued and not yet sent are counted against ConnBudgetBytes.
// Over budget, the event loop leaves frames in gnet's buffer and marks the
// connection paused; the request goroutine also waits while the unsent
// responses alone fill the budget. When the writer (or the Handler) brings
// the count under budget, it calls gnet's Conn.Wake and OnTraffic resumes.
//
// gnet v2.9.0 cannot stop reading a socket, so a paused connection whose
// client keeps sending is muted, Kafka's channel muting done with what gnet
// offers: once gnet holds more than 1 MiB of its unread input, OnTraffic
// returns gnet.Close; OnClose sees the mute request, copies gnet's
// buffered bytes out, and starts a read goroutine; gnet closes only its own
// descriptor, the socket lives on in the writer's dup. The read goroutine
// frames with the same frameLoop, and reads the socket only while the
// budget has room: otherwise the kernel's buffers fill and TCP slows the
// client. Nothing is dropped or replayed, and the connection stays open.
// A muted connection stays muted until it closes. A connection that
// stopped dispatching for good (Handler error) or is draining is not muted:
// it is closed once its unread input passes MaxRequestBytes+ConnBudgetBytes
// (InboundOverflows).
//
// # Deadlines, idle connections and shutdown
//
// One ticker, every tenth of the shorter of IdleTimeout and FrameTimeout
// (within [10 ms, 30 s]), closes:
//
//   - idle connections: no byte received or sent for IdleTimeout and
//     nothing being served or sent (IdleClosed); a TLS connection still in
//     its handshake is bounded by HandshakeTimeout instead. Each is counted
//     before its socket closes, so a client that saw the close finds it in
//     Stats;
//   - stuck writers: responses pending and no write progress for
//     IdleTimeout (WriteTimeouts). Progress is recorded after each writev
//     and each 1 MiB of a region, so a client reading slower than 1 MiB per
//     IdleTimeout is cut off; closing releases the file regions its queued
//     responses pinned (deleted segments are freed). Kafka has no separate
//     write timeout: its idle expiry counts only socket activity, so a
//     channel whose client stopped reading expires the same way;
//   - slowloris: a partial frame not completed FrameTimeout after its first
//     byte (FrameTimeouts), however steadily its bytes trickle. Time spent
//     muted, or with a whole frame waiting for budget, does not count.
//
// A connection whose Handler is running is never idle (a long poll ends
// on its own). Shutdown closes the listener (new connections are
// refused), stops dispatching, waits for dispatched requests to be
// answered and sent, half-closes each connection and reads on (dropping
// what arrives) until its client closes it, it has been quiet for 250 ms
// (no byte either way: its client is not writing) or ShutdownLinger
// passes (a lingering close: a socket closed under a client's writes
// answers them with RST, which can make the client drop responses it has
// not read),
// then stops gnet, which closes the rest, and closes muted connections
// itself.
//
// # Limits per connection
//
// File descriptors: 2 per open connection (gnet's and the writer's dup;
// a muted or TLS connection keeps only one), 3 for a moment while it is set
// up, plus the listener and the spare. Set MaxConns below (RLIMIT_NOFILE −
// the logs' descriptors) / 2 so that the limit sheds connections before
// the operating system does.
//
// Memory, worst case for a client that pipelines without reading (pending
// requests included: their frames count until answered): up to
// ConnBudgetBytes of dispatched frames, and up to ConnBudgetBytes of
// queued responses (frames are admitted while the budget has room, and
// the request goroutine serves while the unsent responses are under
// budget), each plus one past it, plus gnet's unread input before
// muting (up to 1 MiB plus one 64 KiB read) or, once muted, the read
// goroutine's buffer (64 KiB, or one partial frame, at most
// MaxRequestBytes). With the defaults (64 MiB,
// 100 MiB requests) that is about 2×64 MiB + 2×100 MiB at the extreme,
// ~130 MiB with 1 MiB requests; an idle connection costs one goroutine
// (two once it has sent a file region or a large response) and gnet's
// small buffers. Bytes of file regions are not in memory: they
// count against the budget but are sent from the page cache.
//
// Frame memory (framepool.go), per frame: a frame of 257 B up to 256 KiB
// takes n rounded up to a power of two (at least 512 B) from a sync.Pool
// on the Go heap (a frame of 256 B or less is a plain allocation); a larger one that the Handler recycles (FrameRecycler)
// is an anonymous mapping of n rounded up to an eighth of its power of
// two (at most 12.5% more), whose pages become resident only as the
// request's bytes are read into it; other large frames are plain heap
// slices. Mapped frames are not Go heap, so the garbage collector's
// headroom (GOGC=100: the heap may grow to twice what is live) does not
// double them: RSS is the binary, the Go heap of small objects, the
// mapped frames in use (bounded per connection by the budget above, at
// most ConnBudgetBytes plus one frame) and the free list.
//
// The free list, across connections: recycled mapped frames are kept for
// reuse while what is mapped, in use and free, stays within the most
// bytes such frames held at once in the last one to two minutes (at
// least 16 MiB), so the steady state maps no frame memory and the free
// list never adds to the peak in use; buffers beyond that bound are
// unmapped (munmap) when a frame comes back or needs a new mapping, and a
// timer trims the list back to the bound once a peak has passed, and
// unmaps it all once no mapped frame was in use for a whole minute (an
// idle broker keeps no frame memory). FrameMemory reports both figures.
// A frame whose Handler
// panicked is never recycled: it stays mapped and counted in use.
//
// # Scanning a frame as it arrives
//
// A frame that is not whole in the read buffer when the budget lets it
// in (a muted or TLS connection: one over 64 KiB) is read straight into
// its own buffer, in as many reads as the socket needs. A
// Handler that is a FrameScanner may ask, from the frame's head and size,
// to see it arrive: netio then calls the FrameScan's Arrived after every
// read, with the frame and the bytes arrived so far, and bounds each read
// to 256 KiB (scanChunk) so that the bytes just read are still in the
// CPU's cache (a 1 MiB L2) when the scan reads them — a read of all a
// socket holds can be several MiB. The scan is handed over with the frame
// (Conn.FrameScan, during Handle). The broker checks each Produce batch's
// CRC-32C and records this way (broker/produce_scan.go): once a 16 MiB
// request is whole, its first bytes are long gone from the caches.
// Frames read whole from gnet's buffer, and frames of a connection that
// closes first, are never scanned or not handed over: a Handler serves a
// frame the same with or without its scan.
//
// A producer with one connection to 16 partitions (franz-go, 1–16 MiB
// requests, four in flight) peaked at 47–56 MB RSS with mapped frames,
// against 70–105 MB with heap frames (docs/BENCHMARKS.md, issue 19,
// "Produce frames outside the Go heap").
//
// # In-process connections
//
// ServeLocal (local.go) serves a Handler over one end of a net.Pipe for a
// client inside the process (sluiced's web console, acting as its
// logged-in user): same framing, one goroutine serving the connection's
// requests in order, file regions copied with pread rather than sent with
// sendfile, no gnet, no byte budget, no metrics wrapper. A Pending
// response is waited for at once (nothing overlaps).
//
// # Locks
//
// Lock order: Server.mu before conn.mu; no code takes Server.mu while
// holding conn.mu. connLimits.mu is a leaf (taken alone). conn.mu is
// held only for bookkeeping and across gnet's Close and Wake, which
// enqueue a task and write an eventfd without blocking, and a muted
// connection's socket close; never across a Handler call or a Pending
// response's wait, a socket read
// or write, or Region.Release.
package netio
