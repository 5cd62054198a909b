package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// request is one decoded request as handlers see it.
type request struct {
	conn     *netio.Conn
	key      int16
	version  int16
	corrID   int32
	clientID *string
	kreq     kmsg.Request
	// call is the pooled state of a Produce (produce_call.go); nil for
	// other APIs.
	call *produceCall

	// principal and host, found once per request when an authorizer asks
	// (principalOf); identified says they are set.
	principal  string
	host       netip.Addr
	identified bool
	// authzWaited: this request already waited for the authorizer to
	// catch up with the metadata log (securityReady), so it waits once.
	authzWaited bool
}

// handlerFunc serves one request. It returns the response to send, nil to
// send nothing (acks=0), or an error to close the connection.
type handlerFunc func(ctx context.Context, b *Broker, r *request) (*netio.Response, error)

// api is one registered API key.
type api struct {
	key      int16
	min, max int16
	fn       handlerFunc
	hidden   bool // served but not listed in ApiVersions (broker-to-controller APIs)
}

// apis is filled by each API file's init; read-only afterwards.
var apis = map[int16]api{}

// apiByKey is apis as an array for dispatch, which looks a key up per
// request (an array index, not a map lookup); keys past its end are not
// served.
var apiByKey [128]api

// lookupAPI returns the registered API of key.
func lookupAPI(key int16) (api, bool) {
	if key < 0 || int(key) >= len(apiByKey) || apiByKey[key].fn == nil {
		return api{}, false
	}
	return apiByKey[key], true
}

// register adds an API key with the versions it serves. Called from init.
func register(key, minVersion, maxVersion int16, fn handlerFunc) {
	if _, dup := apis[key]; dup {
		panic(fmt.Sprintf("BUG: broker: api key %d registered twice", key))
	}
	if minVersion > maxVersion || kmsg.RequestForKey(key) == nil || key < 0 || int(key) >= len(apiByKey) {
		panic(fmt.Sprintf("BUG: broker: bad registration for api key %d", key))
	}
	apis[key] = api{key: key, min: minVersion, max: maxVersion, fn: fn}
	apiByKey[key] = apis[key]
}

// registerHidden adds an API key that is served but left out of
// ApiVersions, as Kafka's broker listener leaves out the APIs brokers send
// to the controller (BrokerRegistration, BrokerHeartbeat): clients never
// send them. Called from init.
func registerHidden(key, minVersion, maxVersion int16, fn handlerFunc) {
	register(key, minVersion, maxVersion, fn)
	a := apis[key]
	a.hidden = true
	apis[key] = a
	apiByKey[key] = a
}

// registeredAPIs returns every served API sorted by key (ApiVersions' table).
func registeredAPIs() []api {
	out := make([]api, 0, len(apis))
	for _, a := range apis {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// header is a parsed request header (v1 or v2).
type header struct {
	key, version int16
	corrID       int32
	clientID     *string
}

// parseHeader reads key, version, correlation id and client id; the tagged
// fields of a v2 header are skipped by skipHeaderTags once the version's
// flexibility is known.
func parseHeader(frame []byte) (header, []byte, error) { return parseHeaderAfter(frame, nil) }

// parseHeaderAfter is parseHeader for a connection whose previous request
// had client id prev (nil: none known): the same client id is returned as
// prev itself, not allocated again (clients send one client id per
// connection, on every request).
func parseHeaderAfter(frame []byte, prev *string) (header, []byte, error) {
	var h header
	if len(frame) < 10 {
		return h, nil, errClose("request header of %d bytes is short", len(frame))
	}
	h.key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.corrID = int32(binary.BigEndian.Uint32(frame[4:]))
	n := int16(binary.BigEndian.Uint16(frame[8:]))
	rest := frame[10:]
	if n >= 0 {
		if int(n) > len(rest) {
			return h, nil, errClose("client id of %d bytes overruns the frame", n)
		}
		if prev != nil && *prev == string(rest[:n]) {
			h.clientID = prev
		} else {
			s := string(rest[:n])
			h.clientID = &s
		}
		rest = rest[n:]
	} else if n != -1 {
		return h, nil, errClose("client id length %d", n)
	}
	return h, rest, nil
}

// decodeBody decodes the body of a request whose header h was parsed (a
// served key and version): a flexible version's header tags are skipped
// first. Its work and allocations are bounded by len(body): kmsg (v1.15.1+)
// checks every array count and tagged-field count against the bytes left,
// and so does skipHeaderTags.
func decodeBody(h header, body []byte) (kmsg.Request, error) {
	kreq := kmsg.RequestForKey(h.key)
	kreq.SetVersion(h.version)
	if kreq.IsFlexible() {
		var err error
		if body, err = skipHeaderTags(body); err != nil {
			return nil, err
		}
	}
	if err := kreq.ReadFrom(body); err != nil {
		return nil, errClose("cannot decode api key %d v%d: %v", h.key, h.version, err)
	}
	return kreq, nil
}

// skipHeaderTags skips a v2 header's tagged fields. A tag takes at least
// two bytes (its key and its size), so a count above half the bytes left is
// rejected before any loop.
func skipHeaderTags(b []byte) ([]byte, error) {
	n, m := binary.Uvarint(b)
	if m <= 0 {
		return nil, errClose("bad header tag count")
	}
	b = b[m:]
	if n > uint64(len(b)/2) {
		return nil, errClose("header tag count %d overruns the %d bytes left", n, len(b))
	}
	for i := uint64(0); i < n; i++ {
		if _, m = binary.Uvarint(b); m <= 0 { // tag
			return nil, errClose("bad header tag")
		}
		b = b[m:]
		size, m := binary.Uvarint(b)
		if m <= 0 || size > uint64(len(b)-m) {
			return nil, errClose("bad header tag size")
		}
		b = b[m+int(size):]
	}
	return b, nil
}

// Recycles reports whether the broker hands a frame starting with head
// back to netio (netio.FrameRecycler): a Produce's, on every path
// (served, refused or malformed). netio maps such frames, when large,
// outside the Go heap. Other requests keep slices of their frame in what
// they store (JoinGroup's member metadata, SASL state), so their frames
// stay the garbage collector's.
func (b *Broker) Recycles(head []byte) bool {
	return len(head) >= 2 && int16(binary.BigEndian.Uint16(head)) == produceKey
}

var _ netio.FrameRecycler = (*Broker)(nil)

// dispatch parses one frame and runs its handler. A frame Recycles
// called the broker's is recycled on every path but a panic's.
func (b *Broker) dispatch(ctx context.Context, c *netio.Conn, frame []byte) (*netio.Response, error) {
	recycle := b.Recycles(frame)
	if a := authOf(c); a != nil && a.state == authAuthenticate && a.rawV0 {
		c.WaitPending()
		if recycle { // a raw SASL token, not a Produce: the token may be kept
			token := bytes.Clone(frame)
			netio.RecycleFrame(frame)
			frame = token
		}
		return b.rawToken(ctx, c, a, frame)
	}
	if !recycle {
		return b.dispatchFrame(ctx, c, frame)
	}
	resp, kept, err := b.dispatchProduceFrame(ctx, c, frame)
	if !kept {
		netio.RecycleFrame(frame)
	}
	return resp, err
}

// parseConnHeader parses frame's header on connection c (nil in tests),
// reusing the client id string of c's previous request when it is the same,
// and remembers this request's client id for the next one.
func parseConnHeader(c *netio.Conn, frame []byte) (header, []byte, error) {
	var st *connState
	var prev *string
	if c != nil {
		st = stateOf(c)
		prev = st.clientID
	}
	h, body, err := parseHeaderAfter(frame, prev)
	if err != nil {
		return h, nil, err
	}
	if st != nil {
		st.clientID = h.clientID
	}
	return h, body, nil
}

// dispatchProduceFrame is dispatchFrame for a frame whose api key is
// Produce's; kept says that dispatchProduce took the frame (and recycles
// it once the response is encoded).
func (b *Broker) dispatchProduceFrame(ctx context.Context, c *netio.Conn, frame []byte) (resp *netio.Response, kept bool, err error) {
	h, body, err := parseConnHeader(c, frame)
	if err != nil {
		return nil, false, err
	}
	if err := b.checkAuthenticated(c, h); err != nil {
		return nil, false, err
	}
	a, _ := lookupAPI(h.key)
	if h.version < a.min || h.version > a.max {
		return nil, false, errClose("api key %d version %d outside %d-%d", h.key, h.version, a.min, a.max)
	}
	return b.dispatchProduce(ctx, c, a, h, body, frame)
}

// dispatchFrame serves a frame that is not the broker's to recycle.
func (b *Broker) dispatchFrame(ctx context.Context, c *netio.Conn, frame []byte) (*netio.Response, error) {
	h, body, err := parseConnHeader(c, frame)
	if err != nil {
		return nil, err
	}
	if h.key != produceKey {
		// Only Produce overlaps the waits of earlier produces (netio's
		// pipeline); every other request sees them complete first, as
		// when one request was served at a time.
		c.WaitPending()
	}
	if err := b.checkAuthenticated(c, h); err != nil {
		return nil, err
	}
	a, ok := lookupAPI(h.key)
	if !ok {
		return nil, errClose("unknown api key %d (version %d)", h.key, h.version)
	}
	if h.version < a.min || h.version > a.max {
		if h.key == apiVersionsKey {
			return unsupportedAPIVersions(h.corrID), nil
		}
		return nil, errClose("api key %d version %d outside %d-%d", h.key, h.version, a.min, a.max)
	}
	kreq, err := decodeBody(h, body)
	if err != nil {
		b.log.Debug("cannot decode request", "key", h.key, "version", h.version, "err", err)
		return nil, err
	}
	r := &request{conn: c, key: h.key, version: h.version, corrID: h.corrID, clientID: h.clientID, kreq: kreq}
	return a.fn(ctx, b, r)
}

// dispatchProduce decodes and serves a Produce into a pooled produceCall
// (produce_call.go), which goes back to its pool with the frame once the
// response is encoded: at once, or when a pipelined produce's wait is
// over (kept: the frame is then recycled here, else by the caller).
// Nothing refers to the frame then: the appends that read it are done
// (other APIs keep slices of it, e.g. JoinGroup's member metadata, so
// only Produce hands its frame back).
func (b *Broker) dispatchProduce(ctx context.Context, c *netio.Conn, a api, h header, body, frame []byte) (*netio.Response, bool, error) {
	pc := getProduceCall()
	if err := pc.decode(h, body); err != nil {
		putProduceCall(pc)
		b.log.Debug("cannot decode request", "key", h.key, "version", h.version, "err", err)
		return nil, false, err
	}
	pc.r = request{conn: c, key: h.key, version: h.version, corrID: h.corrID, clientID: h.clientID, kreq: &pc.req, call: pc}
	pc.pre = produceScanOf(c, frame)
	if hook := produceScanned.Load(); hook != nil {
		(*hook)(pc.pre)
	}
	resp, err := a.fn(ctx, b, &pc.r)
	if !resp.IsPending() {
		putProduceCall(pc)
		return resp, false, err
	}
	return netio.Pending(func() (*netio.Response, error) {
		out, err := resp.Wait()
		putProduceCall(pc)
		netio.RecycleFrame(frame)
		return out, err
	}), true, err
}

// responseHeader appends the response header: the correlation id, and for
// flexible versions an empty tagged-field section — except ApiVersions,
// whose response header is always v0 (so clients can parse it before they
// know the version).
func (r *request) responseHeader(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.corrID))
	if r.kreq.IsFlexible() && r.key != apiVersionsKey {
		dst = append(dst, 0)
	}
	return dst
}

// respond encodes a kmsg response (whose version is set to the request's).
// Its buffer starts as the netio.SmallResponseBytes (256) of a pooled
// netio.NewSmallResponse, enough for a one-partition Produce response
// (about 50 bytes and the topic's name): most responses are that, and
// allocations per request drive the garbage collector; the connection's
// writer returns it to the pool once written. Larger ones grow it.
func (r *request) respond(resp kmsg.Response) *netio.Response { return r.respondSized(resp, 0) }

// respondSized is respond for a response of about size bytes: a buffer
// of that size is allocated at once when it exceeds
// netio.SmallResponseBytes, instead of growing by doubling.
func (r *request) respondSized(resp kmsg.Response, size int) *netio.Response {
	resp.SetVersion(r.version)
	if size > netio.SmallResponseBytes {
		buf := r.responseHeader(make([]byte, 0, size))
		out := new(netio.Response)
		out.AppendBytes(resp.AppendTo(buf))
		return out
	}
	out, buf := netio.NewSmallResponse()
	buf = r.responseHeader(buf)
	out.AppendBytes(resp.AppendTo(buf))
	return out
}

// unsupportedAPIVersions is the v0 ApiVersions response to a version this
// broker does not serve: error 35 and the range of ApiVersions alone, as
// Kafka answers (KIP-511), so the client retries with the highest version
// it shares and learns the other ranges, and the features (v3+), from
// that answer. (A v0 answer cannot carry features: franz-go 1.22 sends
// ApiVersions v5 first, and kept the v0 answer's ranges when they were all
// listed here, never seeing transaction.version.)
func unsupportedAPIVersions(corrID int32) *netio.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, k := range apiVersionsResponse().ApiKeys {
		if k.ApiKey == apiVersionsKey {
			resp.ApiKeys = append(resp.ApiKeys, k)
		}
	}
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 512), uint32(corrID))
	buf = resp.AppendTo(buf)
	out := new(netio.Response)
	out.AppendBytes(buf)
	return out
}
