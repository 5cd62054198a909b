// Package netio is Sluice's network layer: gnet event loops accept, read
// and frame requests; per connection, one goroutine serves requests in
// order and one goroutine writes responses, file regions by sendfile(2).
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
// is allocated. netio hands the Handler the size bytes after the prefix
// and adds the prefix to each response body (| size int32 | body |).
//
// # Goroutines and ownership
//
//	gnet event loop ──frames──▶ request goroutine ──responses──▶ writer goroutine
//	(read, frame, copy)         (Handler.Handle, one at a time)  (writev + sendfile on a dup fd)
//
// Who does what:
//
//   - The event loop (OnTraffic) only frames: it peeks the 4-byte prefix,
//     waits until the whole frame is in gnet's buffer, copies it once into
//     a fresh slice (gnet reuses its buffer) and queues it. It never does
//     disk I/O, never blocks and never writes to the socket.
//   - The request goroutine calls the Handler for one frame at a time in
//     arrival order (Kafka's per-connection ordering, which keeps an
//     idempotent producer's pipelined batches in order) and queues each
//     non-nil Response.
//   - The writer goroutine owns a dup of the socket wrapped as a
//     *net.TCPConn (so Go's netpoller waits for writability). It takes every
//     queued response at once, prepends each size, sends runs of bytes with
//     one writev and each file region with sendfile.Send (sendfile.Copy if
//     unsupported), releasing each region once sent. gnet's own Write is
//     never used: gnet v2.9.0 has no writable callback, so a sendfile that
//     hits EAGAIN on the loop never resumes.
//   - A write error or a Handler error (after earlier responses are sent)
//     makes the writer call gnet's Conn.Close, which is goroutine-safe (a
//     task queued to the event loop). OnClose, on the loop, closes the dup,
//     stops both goroutines and releases every queued region; a Handler
//     still running finds the connection closed when it returns and
//     releases its response. gnet's Close and Wake are called only under
//     conn.mu and never after OnClose, because gnet closes the loop's
//     poller after the last OnClose at shutdown.
//   - A Handler panic is recovered, logged with its stack, counted and
//     closes its connection only.
//
// # Back-pressure
//
// Per connection, the bytes of frames dispatched and not yet served plus
// responses queued and not yet sent are counted against ConnBudgetBytes.
// Over budget, the event loop leaves frames in gnet's buffer and marks the
// connection paused; the request goroutine also waits while the unsent
// responses alone fill the budget. When the writer (or the Handler) brings
// the count under budget, it calls gnet's Conn.Wake and OnTraffic resumes.
// gnet keeps reading the socket while paused; unread input beyond
// MaxRequestBytes+ConnBudgetBytes closes the connection.
//
// # Idle connections and shutdown
//
// One ticker closes connections that have had no request and nothing to
// serve or send for IdleTimeout. Shutdown closes new connections at once,
// stops dispatching, waits for dispatched requests to be answered and
// sent, then stops gnet, which closes the rest.
//
// # Locks
//
// Lock order: Server.mu before conn.mu; no code takes Server.mu while
// holding conn.mu. conn.mu is held only for bookkeeping and across gnet's
// Close and Wake, which enqueue a task and write an eventfd without
// blocking; never across a Handler call, a socket write or Region.Release.
package netio
