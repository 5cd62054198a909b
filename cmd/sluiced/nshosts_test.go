package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/testhosts"
)

// Each node of an nsCluster has a host (network namespace) of its own, so
// every node listens on the same ports at its own address.
const (
	nsKafkaPort      = 9092
	nsControllerPort = 9093
	nsHTTPPort       = 8080
)

// nsCluster is three combined sluiced nodes, each in its own network
// namespace (internal/testhosts), which the test can cut off, heal, kill
// -9 and restart. Node i (0-based) is broker i+1 at hosts[i].IP.
// Without root or ip, newNSCluster skips the test.
type nsCluster struct {
	t     *testing.T
	net   *testhosts.Net
	hosts []*testhosts.Host
	dirs  []string
	nodes []*proc // nil while the node is down
	env   []string
}

// newNSCluster starts three nodes with env added (after the quorum
// settings, so it may override the heartbeat and session) and waits until
// they agree on a leader and three live brokers.
func newNSCluster(t *testing.T, env ...string) *nsCluster {
	t.Helper()
	c := &nsCluster{t: t, net: testhosts.New(t)}
	var voters []string
	for i := range 3 {
		h := c.net.AddHost()
		c.hosts, c.dirs = append(c.hosts, h), append(c.dirs, t.TempDir())
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, h.Addr(nsControllerPort)))
	}
	c.env = append([]string{
		"SLUICE_CONTROLLER_QUORUM_VOTERS=" + strings.Join(voters, ","),
		"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500",
		"SLUICE_BROKER_SESSION_TIMEOUT_MS=3000", // fencing within the test's time
	}, env...)
	c.nodes = make([]*proc, 3)
	for i := range 3 {
		c.start(i)
	}
	agreed(t, c.addrs(), 30*time.Second, allThree)
	return c
}

// start starts node i on its directory (it must be down).
func (c *nsCluster) start(i int) {
	c.t.Helper()
	h := c.hosts[i]
	cmd := h.Command(binary, "--log-format", "json", "--node-id", strconv.Itoa(i+1), "--cluster-id", "ns-cluster-test",
		"--data-dir", c.dirs[i], "--listen", fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://%s", h.Addr(nsKafkaPort), h.Addr(nsControllerPort)),
		"--http-listen", h.Addr(nsHTTPPort))
	p := startCmd(c.t, cmd, c.env)
	if p.addr == "" {
		c.t.Fatalf("node %d did not start:\n%s", i+1, p.stderr)
	}
	c.nodes[i] = p
}

// kill is kill -9 of node i (a no-op when it is down).
func (c *nsCluster) kill(i int) {
	if c.nodes[i] != nil {
		c.nodes[i].kill()
		c.nodes[i] = nil
	}
}

// stopAll stops the running nodes cleanly (SIGTERM, exit status 0).
func (c *nsCluster) stopAll() {
	c.t.Helper()
	for i, n := range c.nodes {
		if n != nil {
			n.stop()
			c.nodes[i] = nil
		}
	}
}

// addrs are every node's Kafka address, up or down.
func (c *nsCluster) addrs() []string {
	var out []string
	for _, h := range c.hosts {
		out = append(out, h.Addr(nsKafkaPort))
	}
	return out
}

// addrsExcept are the Kafka addresses of every node but the given ones.
func (c *nsCluster) addrsExcept(skip ...int) []string {
	var out []string
	for i, h := range c.hosts {
		if !containsInt(skip, i) {
			out = append(out, h.Addr(nsKafkaPort))
		}
	}
	return out
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// metadataState asks node i's /metadataz.
func (c *nsCluster) metadataState(i int) (metadataState, error) {
	var st metadataState
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + c.hosts[i].Addr(nsHTTPPort) + "/metadataz")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("/metadataz of node %d: %d %s", i+1, resp.StatusCode, body)
	}
	return st, json.Unmarshal(body, &st)
}

// broker is broker id's epoch and fenced state in st (-1 when absent).
func (st metadataState) broker(id int32) (int64, bool) {
	for _, b := range st.Brokers {
		if b.ID == id {
			return b.Epoch, b.Fenced
		}
	}
	return -1, false
}

// sameMetadata polls the given nodes' /metadataz until all answer the
// same applied index and image digest, which it returns.
func (c *nsCluster) sameMetadata(timeout time.Duration, nodes ...int) metadataState {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var first metadataState
		msg := ""
		for k, i := range nodes {
			st, err := c.metadataState(i)
			switch {
			case err != nil:
				msg = err.Error()
			case k == 0:
				first = st
			case st.AppliedIndex != first.AppliedIndex || st.ImageSHA256 != first.ImageSHA256:
				msg = fmt.Sprintf("node %d applied %d (image %.12s), node %d %d (image %.12s)",
					nodes[0]+1, first.AppliedIndex, first.ImageSHA256, i+1, st.AppliedIndex, st.ImageSHA256)
			}
			if msg != "" {
				break
			}
		}
		if msg == "" {
			return first
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("metadata not identical after %v: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
