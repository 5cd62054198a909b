// Package console is sluiced's web console and the JSON API under it,
// served on the HTTP listener (--http-listen; `make run` puts it on
// http://127.0.0.1:8080/). The pages are plain HTML, CSS and JavaScript
// modules embedded in the binary (web/), with charts drawn as inline SVG:
// no CDN, no build step. The API is described by /api/openapi.json.
//
// What it reads and how:
//
//	console ──(partition.Store, read only)──▶ logs: offsets, sizes, segments,
//	   │                                      batch headers (record counts),
//	   │                                      segment bytes (browse, search)
//	   └──(Kafka protocol, in-process)───────▶ the broker's handlers, over a
//	       one kgo client per viewer           net.Pipe (broker.DialAs): create/
//	       (principal, browser IP)             delete topics, partitions, configs,
//	                                           groups, commits, produce
//
// In a cluster (Config.Topics from the metadata image) a partition this
// broker leads is read as above; one led by another broker is read from
// its leader with a franz-go client on the inter-broker listener, dialed
// as the broker (Config.DialPeer: TLS and SASL as configured), within
// Config.RemoteTimeout (3 s) per page (cluster.go):
//
//	console ──(kadm, inter-broker listener)──▶ leaders: ListOffsets (log
//	                                           start, high watermark),
//	                                           DescribeLogDirs (size),
//	                                           Fetch (browse, search, SQL,
//	                                           lag in time)
//
// A leader that is down or silent past the bound makes its partitions
// "unavailable" (offsets -1, browse 503); a remote partition's record
// count is its offset span (approximate). ACL filtering is the console's
// own, as for local reads: the peer client acts as the broker.
//
// Mutations go through the Kafka API like any client's, so they take the
// broker's checks and paths — including its ACL checks, as the viewer's
// principal — and need no listener (a broker whose only listener is SASL
// serves the console all the same); reads go straight to the segments,
// which is what makes exact record counts (sum of batch headers' record
// counts, counted incrementally) and in-broker search cheap.

// Search reads a partition's segments 1 MiB at a time (pread through the
// regions partition.Log.Read returns), skips batches outside the time
// range by their header timestamps, decodes the rest and matches with
// bytes.Contains. It checks the request's context between batches, so a
// client that goes away or the time budget (budget_ms, at most 60 s)
// stops it at the next batch; the ndjson stream reports progress every
// 8 MiB scanned.
//
// Lag verdicts follow Burrow's rules over a window of the last 10
// samples per group partition (verdict.go); lag in time is the age of the
// record at the committed offset, read from the log.
//
// Alerts (alerts.go) are evaluated on demand (overview, GET /api/alerts)
// and by the sampler, which POSTs their changes to the webhook when one is
// set; the sampler goroutine alone owns what the webhook was last told.
//
// Locks: Console.mu (lag windows, last counters) and history.mu (series)
// are never held together, nor across I/O.
//
// # Memory and disk bounds
//
// Series (overview rates, disk bytes, each group's total lag) are capped at
// MaxSeries (256). Each keeps, 16 bytes a point:
//
//   - live: one point per sample for the last hour (5 s sampling: 720
//     points, 11.5 KiB), memory only;
//   - history: one mean per minute for console.metrics.retention.ms
//     (7 days: 10,080 points, 158 KiB), in memory and in the history file.
//
// At the cap that is at most 256 × 170 KiB ≈ 42 MiB of memory and 40 MiB
// of disk for 7 days; a broker with a few groups uses well under 2 MiB.
// The verdict windows keep at most 10,000 group partitions × 10 samples
// (24 bytes each, ≤ 2.4 MiB). Record counts are cached per partition (a
// few words each).
//
// The history file is <data-dir>/console/history, rewritten whole every
// 10 minutes and at shutdown (temporary file, fsync, rename); a crash
// loses at most the last 10 minutes of history. Measured at the cap
// (BenchmarkHistoryFull: 256 series × 7 days): 43 MiB of heap, a 39 MiB
// file, about 1 s to save on this shared 2-core machine:
//
//	| "SLCH" (4B) | version 1 (1B) | series count uint32 |
//	per series: | name length uint16 | name | point count uint32 | (T int64 ms, V float64 bits)… |
//	| CRC-32C (Castagnoli) of all the above (4B) |
//
// Integers are big-endian. A file failing its CRC is ignored with a
// warning: the charts start empty, the broker starts anyway.
//
// # Security
//
// Without SASL users (no SCRAM credential, no PLAIN user, no SASL
// listener) the console has no login: it binds where --http-listen says,
// which should be loopback or a private interface, and acts as
// User:ANONYMOUS. With SASL users, everything under /api/ but /api/csrf,
// /api/session, /api/login and /api/openapi.json answers 401 and the page
// sends to /login.html until POST /api/login accepts a user's password:
// checked against the broker's SCRAM credential (the password salted with
// the stored salt and iterations must give the StoredKey, as a SCRAM proof
// would) or its PLAIN users. The session cookie sluice_session is random
// (256 bits), HttpOnly, SameSite=Strict, Secure over TLS, and expires after
// console.session.timeout.ms (8 h); sessions live in memory (at most 4,096;
// a restart ends them). A wrong password is answered after
// connection.failed.authentication.delay.ms.
//
// The viewer is then User:<name> from the browser's IP address. With an
// authorizer on, what the console reads itself is filtered with the
// broker's authorizer: topics need DESCRIBE (others are absent: 404),
// records (browse, search, export, query) READ (403), groups and their
// lag series DESCRIBE. Everything sent as Kafka requests (group and
// config reads, every mutation) goes through a client acting as the
// viewer's principal, so the broker makes Kafka's checks itself; no ACL
// table is duplicated here. The sampler's own reads (alerts, webhook) run
// as the broker (DialInternal); each viewer sees only the alerts of what
// it may describe.
//
// POSTs need the CSRF token in the X-Sluice-CSRF header: without a
// login, the double-submit cookie sluice_csrf; with one, the session's
// token (a new one at login, so a token planted before it is useless).
// Deleting a topic or a group needs its name typed again.
package console
