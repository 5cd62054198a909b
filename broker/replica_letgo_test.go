package broker

import (
	"testing"
	"time"
)

// TestReplicaFetcherLetsGoOfItsLeader: a follower's fetcher holds no
// connection to a leader it has nothing left to fetch from (a leader
// shutting down waits for its clients to close), and stop does not wait
// out a long poll in flight (a caught-up follower's Fetch waits up to
// replica.fetch.wait.max.ms for data; here a minute).
func TestReplicaFetcherLetsGoOfItsLeader(t *testing.T) {
	ts, _ := twoBrokers(t)
	id, p, _, epoch := ledByOne(t, ts, "letgo")
	open := func() int64 { return ts.NetStats().ConnsOpen }
	before := open()

	// Nothing left to follow: the connection goes (once the long poll in
	// flight, replica.fetch.wait.max.ms, ends).
	f, st := followerOfOne(t, ts, "letgo", id, p, epoch)
	go f.loop()
	waitFor(t, "the fetcher's connection to the leader", 10*time.Second, func() bool { return open() == before+1 })
	f.mu.Lock()
	delete(f.parts, st.log)
	f.mu.Unlock()
	f.poke()
	waitFor(t, "the idle fetcher to close its connection", 10*time.Second, func() bool { return open() == before })
	f.stop()

	// A long poll in flight: stop cuts it short.
	g, _ := followerOfOne(t, ts, "letgo", id, p, epoch)
	g.rm.fetchWait = time.Minute
	go g.loop()
	waitFor(t, "a Fetch waiting on the leader", 10*time.Second, func() bool {
		g.inFlight.Lock()
		defer g.inFlight.Unlock()
		return g.inFlight.conn != nil
	})
	time.Sleep(50 * time.Millisecond) // the leader is holding it
	stopped := make(chan struct{})
	go func() { g.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(peerTimeout - time.Second): // the round trip's own bound would end it at peerTimeout
		t.Fatal("stop waited for the long poll")
	}
	waitFor(t, "the stopped fetcher's connection to close", 10*time.Second, func() bool { return open() == before })
}
