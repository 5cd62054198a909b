package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/listener"
)

// saslServer is a broker with a PLAINTEXT and a SASL_PLAINTEXT listener,
// every mechanism enabled, PLAIN user alice (alice-pw) and SCRAM user bob
// (bob-pw, both SHA-256 and SHA-512).
type saslServer struct {
	*testServer
	plain, sasl string // listener addresses
}

func startSASLServer(t *testing.T, dir string, opts ...func(*ServerConfig)) *saslServer {
	t.Helper()
	opts = append([]func(*ServerConfig){withListeners(
		listener.Listener{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: "127.0.0.1"},
		listener.Listener{Name: "SASL_PLAINTEXT", Protocol: listener.SASLPlaintext, Host: "127.0.0.1"},
	), func(c *ServerConfig) {
		c.Broker.Groups = testGroupConfig()
		c.Broker.SASL.Mechanisms = auth.Mechanisms
		c.Broker.SASL.PlainUsers = map[string]map[string]string{"SASL_PLAINTEXT": {"alice": "alice-pw"}}
		c.Broker.SASL.FailedAuthDelay = time.Millisecond
	}}, opts...)
	ts := startServer(t, dir, opts...)
	t.Cleanup(func() { stopGroupServer(t, ts) })
	s := &saslServer{testServer: ts, plain: ts.Addrs()["PLAINTEXT"].String(), sasl: ts.Addrs()["SASL_PLAINTEXT"].String()}
	s.upsertScram(t, "bob", "bob-pw")
	return s
}

// upsertScram sets user's SCRAM-SHA-256 and -512 credentials with kadm
// (AlterUserScramCredentials) over the PLAINTEXT listener.
func (s *saslServer) upsertScram(t *testing.T, user, pass string) {
	t.Helper()
	adm := kadm.NewClient(newKgo(t, s.plain))
	res, err := adm.AlterUserSCRAMs(testCtx(t), nil, []kadm.UpsertSCRAM{
		{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: pass},
		{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: pass},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("AlterUserSCRAMs: %v", err)
	}
}

func mechanisms() map[string]sasl.Mechanism {
	return map[string]sasl.Mechanism{
		"PLAIN":         plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism(),
		"SCRAM-SHA-256": scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha256Mechanism(),
		"SCRAM-SHA-512": scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha512Mechanism(),
	}
}

// TestSASLProduceConsumeGroup: franz-go produces and consumes with a group
// over SASL_PLAINTEXT with each mechanism.
func TestSASLProduceConsumeGroup(t *testing.T) {
	s := startSASLServer(t, "")
	for name, mech := range mechanisms() {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			topic := "sasl-" + name
			p := newKgo(t, s.sasl, kgo.SASL(mech), kgo.AllowAutoTopicCreation())
			for i := range 5 {
				if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			c := newKgo(t, s.sasl, kgo.SASL(mech), kgo.ConsumerGroup("g-"+name), kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			recs := consumeN(ctx, t, c, 5)
			if string(recs[0].Value) != "v0" {
				t.Fatalf("first record %q", recs[0].Value)
			}
			if err := c.CommitUncommittedOffsets(ctx); err != nil {
				t.Fatalf("commit: %v", err)
			}
		})
	}
	if st := s.Broker().SASLStats(); st.Succeeded < 6 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSASLBadCredentials: wrong password, unknown user and a disabled
// mechanism fail with Kafka's errors, counted.
func TestSASLBadCredentials(t *testing.T) {
	s := startSASLServer(t, "", func(c *ServerConfig) {
		c.Broker.SASL.Mechanisms = []auth.Mechanism{auth.Plain, auth.ScramSHA512}
	})
	f := func(mech sasl.Mechanism, want *kerr.Error) {
		t.Helper()
		cl := newKgo(t, s.sasl, kgo.SASL(mech), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
		err := cl.Ping(testCtx(t))
		if !errors.Is(err, want) {
			t.Fatalf("%s: Ping = %v, want %v", mech.Name(), err, want)
		}
	}
	f(plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism(), kerr.SaslAuthenticationFailed)
	f(plain.Auth{User: "mallory", Pass: "x"}.AsMechanism(), kerr.SaslAuthenticationFailed)
	f(scram.Auth{User: "bob", Pass: "wrong"}.AsSha512Mechanism(), kerr.SaslAuthenticationFailed)
	f(scram.Auth{User: "mallory", Pass: "x"}.AsSha512Mechanism(), kerr.SaslAuthenticationFailed)
	f(scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha256Mechanism(), kerr.UnsupportedSaslMechanism)
	if st := s.Broker().SASLStats(); st.Failed < 4 || st.Succeeded != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// saslRaw authenticates rc with SaslHandshake v1 + SaslAuthenticate and
// returns the last response.
func saslRawPlain(t *testing.T, rc *rawConn, user, pass string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	if r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake: error %d", r.ErrorCode)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 2, []byte("\x00"+user+"\x00"+pass)
	return rc.roundTrip(au).(*kmsg.SASLAuthenticateResponse)
}

// TestSASLProtocolErrors drives the exchange with raw frames: the bad
// inputs of the issue each close the connection.
func TestSASLProtocolErrors(t *testing.T) {
	s := startSASLServer(t, "")
	t.Run("unknown mechanism", func(t *testing.T) {
		rc := dialRaw(t, s.sasl)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "GSSAPI"
		r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse)
		if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(r.SupportedMechanisms) != 3 {
			t.Fatalf("got %+v", r)
		}
		rc.expectClosed()
	})
	t.Run("authenticate without handshake", func(t *testing.T) {
		rc := dialRaw(t, s.sasl)
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.SASLAuthBytes = []byte("\x00alice\x00alice-pw")
		if r := rc.roundTrip(au).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("got %+v", r)
		}
		rc.expectClosed()
	})
	t.Run("second handshake mid-exchange", func(t *testing.T) {
		rc := dialRaw(t, s.sasl)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "PLAIN"
		rc.roundTrip(hs)
		if r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("got %+v", r)
		}
		rc.expectClosed()
	})
	t.Run("wrong password", func(t *testing.T) {
		rc := dialRaw(t, s.sasl)
		r := saslRawPlain(t, rc, "alice", "nope")
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil ||
			*r.ErrorMessage != "Authentication failed: Invalid username or password" {
			t.Fatalf("got %+v", r)
		}
		rc.expectClosed()
	})
	t.Run("replayed authenticate", func(t *testing.T) {
		rc := dialRaw(t, s.sasl)
		if r := saslRawPlain(t, rc, "alice", "alice-pw"); r.ErrorCode != 0 {
			t.Fatalf("got %+v", r)
		}
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.SASLAuthBytes = []byte("\x00alice\x00alice-pw")
		if r := rc.roundTrip(au).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("got %+v", r)
		}
		rc.expectClosed()
	})
	t.Run("token over sasl.server.max.receive.size", func(t *testing.T) {
		rc := dialRaw(t, s.sasl)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "PLAIN"
		rc.roundTrip(hs)
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.SASLAuthBytes = make([]byte, auth.MaxTokenBytes+1)
		rc.sendRefused(au)
		rc.expectClosed()
	})
	t.Run("scram wrong nonce", func(t *testing.T) {
		rc := dialRaw(t, s.sasl)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "SCRAM-SHA-512"
		rc.roundTrip(hs)
		cl, _ := xscram.SHA512.NewClient("bob", "bob-pw", "")
		conv := cl.NewConversation()
		first, _ := conv.Step("")
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 1, []byte(first)
		r := rc.roundTrip(au).(*kmsg.SASLAuthenticateResponse)
		final, err := conv.Step(string(r.SASLAuthBytes))
		if r.ErrorCode != 0 || err != nil {
			t.Fatalf("server-first: %+v %v", r, err)
		}
		au.SASLAuthBytes = []byte(final[:len("c=biws,r=")] + "X" + final[len("c=biws,r="):])
		r = rc.roundTrip(au).(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("client-final with a wrong nonce: %+v", r)
		}
		rc.expectClosed()
	})
	t.Run("request before authentication", func(t *testing.T) {
		rc := dialRaw(t, s.sasl)
		rc.send(produceReq(7, 1, "t", 0, makeBatch(batchOpts{}, []byte("x"))))
		rc.expectClosed()
	})
}

// rawFrame sends b as one size-prefixed frame and reads one back.
func (rc *rawConn) rawFrame(b []byte) []byte {
	rc.t.Helper()
	rc.write(append([]byte{byte(len(b) >> 24), byte(len(b) >> 16), byte(len(b) >> 8), byte(len(b))}, b...))
	out, err := rc.readFrame(10 * time.Second)
	if err != nil {
		rc.t.Fatalf("raw SASL frame: %v", err)
	}
	return out
}

// TestSASLHandshakeV0 authenticates with SaslHandshake v0 and raw token
// frames (as librdkafka without SaslAuthenticate), then is served.
func TestSASLHandshakeV0(t *testing.T) {
	s := startSASLServer(t, "")
	handshake := func(rc *rawConn, mech string) {
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 0, mech
		if r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake v0: %+v", r)
		}
	}
	rc := dialRaw(t, s.sasl)
	handshake(rc, "PLAIN")
	if out := rc.rawFrame([]byte("\x00alice\x00alice-pw")); len(out) != 0 {
		t.Fatalf("PLAIN v0 answer %q, want empty", out)
	}
	if md := rc.roundTrip(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse); len(md.Brokers) != 1 {
		t.Fatalf("Metadata after v0 PLAIN: %+v", md)
	}

	rc = dialRaw(t, s.sasl)
	handshake(rc, "SCRAM-SHA-256")
	cl, _ := xscram.SHA256.NewClient("bob", "bob-pw", "")
	conv := cl.NewConversation()
	msg, _ := conv.Step("")
	for !conv.Done() {
		in := rc.rawFrame([]byte(msg))
		var err error
		if msg, err = conv.Step(string(in)); err != nil {
			t.Fatalf("SCRAM v0: %v", err)
		}
		if conv.Done() {
			break
		}
	}
	if !conv.Valid() {
		t.Fatal("server signature not valid")
	}
	if md := rc.roundTrip(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse); len(md.Brokers) != 1 {
		t.Fatalf("Metadata after v0 SCRAM: %+v", md)
	}

	rc = dialRaw(t, s.sasl)
	handshake(rc, "PLAIN")
	rc.write([]byte{0, 0, 0, 12, 0, 'a', 'l', 'i', 'c', 'e', 0, 'w', 'r', 'o', 'n', 'g'})
	rc.expectClosed()
}

// TestSASLReauthentication: with connections.max.reauth.ms a session
// expires: a request other than a re-authentication then closes the
// connection, a re-authentication (same user) keeps it, another user is
// refused; franz-go re-authenticates by itself.
func TestSASLReauthentication(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	s := startSASLServer(t, "", func(c *ServerConfig) {
		c.Broker.SASL.Reauth = time.Minute
		c.Broker.SASL.PlainUsers["SASL_PLAINTEXT"]["eve"] = "eve-pw"
		c.Broker.SASL.now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	rc := dialRaw(t, s.sasl)
	if r := saslRawPlain(t, rc, "alice", "alice-pw"); r.ErrorCode != 0 || r.SessionLifetimeMillis != 60000 {
		t.Fatalf("got %+v", r)
	}
	rc.roundTrip(kmsg.NewPtrMetadataRequest())
	now.Add(int64(time.Minute))
	if r := saslRawPlain(t, rc, "alice", "alice-pw"); r.ErrorCode != 0 { // re-authentication
		t.Fatalf("re-authentication: %+v", r)
	}
	rc.roundTrip(kmsg.NewPtrMetadataRequest())
	now.Add(int64(time.Minute))
	rc.send(kmsg.NewPtrMetadataRequest())
	rc.expectClosed()

	rc = dialRaw(t, s.sasl)
	saslRawPlain(t, rc, "alice", "alice-pw")
	if r := saslRawPlain(t, rc, "eve", "eve-pw"); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication as another user: %+v", r)
	}
	rc.expectClosed()
	if st := s.Broker().SASLStats(); st.Expired != 1 || st.Reauthenticated != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSASLReauthenticationKgo: franz-go re-authenticates before a short
// session ends and goes on producing.
func TestSASLReauthenticationKgo(t *testing.T) {
	s := startSASLServer(t, "", func(c *ServerConfig) { c.Broker.SASL.Reauth = 1500 * time.Millisecond })
	ctx := testCtx(t)
	cl := newKgo(t, s.sasl, kgo.SASL(mechanisms()["SCRAM-SHA-512"]), kgo.AllowAutoTopicCreation())
	deadline := time.Now().Add(30 * time.Second)
	for s.Broker().SASLStats().Reauthenticated == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no re-authentication: %+v", s.Broker().SASLStats())
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // produce pace
	}
	if st := s.Broker().SASLStats(); st.Expired != 0 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestScramCredentialsAPIs: AlterUserScramCredentials and
// DescribeUserScramCredentials with kadm, persisted across a restart;
// the errors of KIP-554.
func TestScramCredentialsAPIs(t *testing.T) {
	dir := t.TempDir()
	s := startSASLServer(t, dir)
	ctx := testCtx(t)
	adm := kadm.NewClient(newKgo(t, s.plain))
	res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha256}}, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "c"},
		{User: "erin", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "e"},
		{User: "erin", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "e2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*kerr.Error{"bob": nil, "carol": nil, "erin": kerr.DuplicateResource}
	for user, w := range want {
		if got := res[user].Err; !errors.Is(got, w) && (w != nil || got != nil) {
			t.Fatalf("%s: %v, want %v", user, got, w)
		}
	}
	// kadm refuses these itself: raw requests.
	raw := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, u := range []struct {
		name  string
		mech  int8
		iters int32
	}{{"dave", 2, 100}, {"frank", 2, 20000}, {"gina", 3, 4096}, {"", 1, 4096}} {
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = u.name, u.mech, u.iters, []byte("salt"), []byte("salted")
		raw.Upsertions = append(raw.Upsertions, up)
	}
	rawResp, err := raw.RequestWith(ctx, newKgo(t, s.plain))
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := map[string]int16{"dave": kerr.UnacceptableCredential.Code, "frank": kerr.UnacceptableCredential.Code,
		"gina": kerr.UnsupportedSaslMechanism.Code, "": kerr.UnacceptableCredential.Code}
	for _, r := range rawResp.Results {
		if r.ErrorCode != wantCodes[r.User] || r.ErrorMessage == nil {
			t.Fatalf("%q: error %d %v, want %d", r.User, r.ErrorCode, r.ErrorMessage, wantCodes[r.User])
		}
	}
	res, err = adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "nobody", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || !errors.Is(res["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("delete missing: %v %v", res, err)
	}
	check := func(adm *kadm.Client) {
		t.Helper()
		d, err := adm.DescribeUserSCRAMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(d) != 2 || len(d["bob"].CredInfos) != 1 || d["bob"].CredInfos[0].Mechanism != kadm.ScramSha512 ||
			len(d["carol"].CredInfos) != 1 || d["carol"].CredInfos[0].Iterations != 8192 {
			t.Fatalf("describe: %+v", d)
		}
		d, err = adm.DescribeUserSCRAMs(ctx, "carol", "nobody")
		if err != nil || d["carol"].Err != nil || !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
			t.Fatalf("describe named: %+v %v", d, err)
		}
	}
	check(adm)
	data, err := os.ReadFile(filepath.Join(dir, scramCredentialsFile))
	if err != nil || len(data) == 0 {
		t.Fatalf("credentials file: %v", err)
	}
	stopGroupServer(t, s.testServer)

	s2 := startServer(t, dir)
	check(kadm.NewClient(newKgo(t, s2.addr)))
	if _, ok := s2.Broker().scram.lookup(auth.ScramSHA512, "carol"); !ok {
		t.Fatal("carol's credential lost across the restart")
	}
}

// TestScramCredentialsCorrupt: a credentials file that cannot be parsed
// stops the broker from starting, naming the file.
func TestScramCredentialsCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.stop(t)
	if err := os.WriteFile(filepath.Join(dir, scramCredentialsFile), []byte("{\"version\":1,\"users\":{\"x\""), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := StartServer(testServerConfig(dir))
	if !errors.Is(err, errCorruptCredentials) {
		t.Fatalf("StartServer = %v, want errCorruptCredentials", err)
	}
}

var _ = context.Background

// TestSASLFailedAuthPerAddress: a client address that fails
// FailedAuthMax times within the window is refused (even with the right
// password, which is then not checked) until the window ends, counted;
// the refusals do not extend the window. Failures injected with franz-go
// and wrong passwords; the window's clock is injected.
func TestSASLFailedAuthPerAddress(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	s := startSASLServer(t, "", func(c *ServerConfig) {
		c.Broker.SASL.FailedAuthMax = 3
		c.Broker.SASL.FailedAuthWindow = time.Minute
		c.Broker.SASL.now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	ping := func(mech sasl.Mechanism) error {
		t.Helper()
		cl := newKgo(t, s.sasl, kgo.SASL(mech), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
		defer cl.Close()
		return cl.Ping(testCtx(t))
	}
	good := scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha512Mechanism()
	for i := range 3 {
		if err := ping(scram.Auth{User: "bob", Pass: fmt.Sprint("guess", i)}.AsSha512Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("guess %d: %v", i, err)
		}
		now.Add(int64(10 * time.Second))
	}
	if st := s.Broker().SASLStats(); st.Failed != 3 || st.RateLimited != 0 || st.BlockedAddrs != 1 {
		t.Fatalf("after 3 failures: %+v", st)
	}
	for _, mech := range []sasl.Mechanism{good, plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism()} {
		if err := ping(mech); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("%s while blocked: %v", mech.Name(), err)
		}
	}
	// A raw exchange sees the message.
	rc := dialRaw(t, s.sasl)
	if r := saslRawPlain(t, rc, "alice", "alice-pw"); r.ErrorCode != kerr.SaslAuthenticationFailed.Code ||
		r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, "too many failed authentications") {
		t.Fatalf("raw while blocked: %+v", r)
	}
	rc.expectClosed()
	if st := s.Broker().SASLStats(); st.Failed != 3 || st.RateLimited != 3 || st.Succeeded != 0 {
		t.Fatalf("while blocked: %+v", st)
	}
	now.Add(int64(31 * time.Second)) // 61 s after the first failure: the window is over
	if err := ping(good); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if st := s.Broker().SASLStats(); st.BlockedAddrs != 0 || st.Succeeded != 1 {
		t.Fatalf("after the window: %+v", st)
	}
	// The PLAINTEXT listener is not affected, and a fresh window counts anew.
	if err := newKgo(t, s.plain).Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := ping(scram.Auth{User: "bob", Pass: "again"}.AsSha512Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatal(err)
	}
	if err := ping(good); err != nil {
		t.Fatalf("one failure in a new window: %v", err)
	}
}

// TestAuthLimiterBounded: past maxAuthAddrs addresses, expired windows are
// dropped and new addresses are not tracked while none has expired.
func TestAuthLimiterBounded(t *testing.T) {
	l := newAuthLimiter(1, time.Minute)
	t0 := time.Unix(1000, 0)
	for i := range maxAuthAddrs {
		if !l.failed(fmt.Sprint("10.0.", i/256, ".", i%256), t0) {
			t.Fatal("one failure should block at max 1")
		}
	}
	if l.failed("192.0.2.1", t0) {
		t.Fatal("a new address was tracked past the bound")
	}
	if b, _ := l.blocked("192.0.2.1", t0); b {
		t.Fatal("untracked address blocked")
	}
	t1 := t0.Add(time.Minute)
	if !l.failed("192.0.2.1", t1) || l.blockedAddrs(t1) != 1 {
		t.Fatalf("after expiry: tracked %d blocked", l.blockedAddrs(t1))
	}
	if b, _ := newAuthLimiter(0, time.Minute).blocked("x", t0); b {
		t.Fatal("max 0 blocks")
	}
}
