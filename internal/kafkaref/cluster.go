package kafkaref

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A cluster is Nodes combined KRaft nodes (process.roles=broker,controller)
// on loopback, as Kafka's quickstart for a multi-node cluster runs them:
//
//	<dir>/node<i>/server.properties   node.id=i, its own PLAINTEXT and
//	                                  CONTROLLER ports, the same static
//	                                  controller.quorum.voters on every
//	                                  node, log.dirs=<dir>/node<i>/logs,
//	                                  internal topics replicated min(3, n)
//	kafka-storage.sh format           once per node, one cluster id for all
//	kafka-server-start.sh             one JVM per node (-Xmx ClusterOptions.Heap)
//
// StartCluster starts every JVM at once (a node waits for a quorum before
// it serves) and waits, up to its context, until every PLAINTEXT port
// answers ApiVersions.

// ClusterOptions say where and how to run a cluster.
type ClusterOptions struct {
	// LibDir holds the Kafka jars (e2e/java/lib).
	LibDir string
	// Dir receives node1, node2, … (each as Options.Dir); fresh or empty.
	Dir string
	// Nodes is the number of combined nodes (default 3).
	Nodes int
	// Heap is each JVM's -Xmx and -Xms (default "512m": several JVMs share
	// the machine).
	Heap string
	// Props are extra server.properties entries for every node; they
	// override the generated ones.
	Props map[string]string
	// JVMArgs are added to every node's JVM flags.
	JVMArgs []string
	// Output, when set, gives the writer for node id's stdout and stderr
	// (default: discarded).
	Output func(id int) io.Writer
}

// ClusterPlan is a formatted, ready-to-run cluster: one Plan per node,
// node ids 1..n in order.
type ClusterPlan struct {
	ClusterID string
	Voters    string // controller.quorum.voters
	Nodes     []*Plan
}

// Addrs are the nodes' PLAINTEXT addresses, comma-separated (a
// bootstrap list).
func (p *ClusterPlan) Addrs() string {
	addrs := make([]string, len(p.Nodes))
	for i, n := range p.Nodes {
		addrs[i] = n.Addr
	}
	return strings.Join(addrs, ",")
}

// clusterNodeProps are node id's server.properties in a cluster of n
// nodes with the given voters (before extra props).
func clusterNodeProps(p *Plan, id, n int, voters string, extra map[string]string) map[string]string {
	rf := strconv.Itoa(min(3, n))
	isr := strconv.Itoa(min(2, n))
	m := serverProps(p, map[string]string{
		"node.id":                                          strconv.Itoa(id),
		"controller.quorum.voters":                         voters,
		"offsets.topic.replication.factor":                 rf,
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    isr,
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            isr,
	})
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// PrepareCluster picks every node's ports, writes the nodes'
// server.properties and formats their log dirs with one cluster id,
// without starting them.
func PrepareCluster(ctx context.Context, o ClusterOptions) (*ClusterPlan, error) {
	if err := Check(o.LibDir); err != nil {
		return nil, err
	}
	n := o.Nodes
	if n == 0 {
		n = 3
	}
	if n < 1 {
		return nil, fmt.Errorf("kafkaref: a cluster of %d nodes", n)
	}
	heap := o.Heap
	if heap == "" {
		heap = "512m"
	}
	java, _ := exec.LookPath("java")
	lib, err := filepath.Abs(o.LibDir)
	if err != nil {
		return nil, fmt.Errorf("kafkaref: cannot resolve %s: %w", o.LibDir, err)
	}
	root, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("kafkaref: cannot resolve %s: %w", o.Dir, err)
	}
	cp := &ClusterPlan{ClusterID: clusterID()}
	voters := make([]string, n)
	for i := range n {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		cport, err := FreePort()
		if err != nil {
			return nil, err
		}
		p := &Plan{Addr: fmt.Sprintf("127.0.0.1:%d", port), ControllerAddr: fmt.Sprintf("127.0.0.1:%d", cport),
			Dir: filepath.Join(root, "node"+strconv.Itoa(i+1)), Java: java}
		cp.Nodes = append(cp.Nodes, p)
		voters[i] = fmt.Sprintf("%d@%s", i+1, p.ControllerAddr)
	}
	cp.Voters = strings.Join(voters, ",")
	classPath := filepath.Join(lib, "*")
	// Format the nodes side by side: each is a JVM start of a few seconds.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, p := range cp.Nodes {
		if err := os.MkdirAll(p.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("kafkaref: cannot create %s: %w", p.Dir, err)
		}
		props := filepath.Join(p.Dir, "server.properties")
		if err := writeProps(props, clusterNodeProps(p, i+1, n, cp.Voters, o.Props)); err != nil {
			return nil, err
		}
		p.Args = append([]string{"-Xmx" + heap, "-Xms" + heap}, JVMPerformanceOpts...)
		p.Args = append(p.Args, o.JVMArgs...)
		p.Args = append(p.Args, "-cp", classPath, "kafka.Kafka", props)
		wg.Add(1)
		go func() {
			defer wg.Done()
			format := exec.CommandContext(ctx, java, "-XX:TieredStopAtLevel=1", "-cp", classPath, "kafka.tools.StorageTool", "format",
				"--cluster-id="+cp.ClusterID, "--config="+props)
			if out, err := format.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("kafkaref: kafka-storage format %s: %w\n%s", props, err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cp, nil
}

// Cluster is a running Apache Kafka cluster: Brokers[i] is node i+1.
type Cluster struct {
	*ClusterPlan
	Brokers []*Broker
}

// StartCluster prepares and starts the cluster's nodes and waits (up to
// ctx: bound it) until every node answers ApiVersions. On failure it kills
// the nodes it started.
func StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	plan, err := PrepareCluster(ctx, o)
	if err != nil {
		return nil, err
	}
	c := &Cluster{ClusterPlan: plan}
	for i, p := range plan.Nodes {
		b := &Broker{Plan: p, done: make(chan struct{})}
		b.cmd = exec.Command(p.Java, p.Args...)
		out := io.Discard
		if o.Output != nil {
			if w := o.Output(i + 1); w != nil {
				out = w
			}
		}
		b.cmd.Stdout, b.cmd.Stderr = out, out
		if err := b.cmd.Start(); err != nil {
			c.Kill()
			return nil, fmt.Errorf("kafkaref: cannot start java for node %d: %w", i+1, err)
		}
		go func() { b.err = b.cmd.Wait(); close(b.done) }()
		c.Brokers = append(c.Brokers, b)
	}
	for i, b := range c.Brokers {
		if err := WaitReady(ctx, b.Addr, b.done); err != nil {
			c.Kill()
			return nil, fmt.Errorf("kafkaref: node %d: %w", i+1, err)
		}
	}
	return c, nil
}

// Pids are the nodes' JVM process ids, node 1 first.
func (c *Cluster) Pids() []int {
	pids := make([]int, len(c.Brokers))
	for i, b := range c.Brokers {
		pids[i] = b.Pid()
	}
	return pids
}

// Stop stops every node (SIGTERM, Kafka's controlled shutdown) at once,
// killing any still running after timeout.
func (c *Cluster) Stop(timeout time.Duration) error {
	errs := make([]error, len(c.Brokers))
	var wg sync.WaitGroup
	for i, b := range c.Brokers {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = b.Stop(timeout) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Kill sends SIGKILL to every node and waits for them to be gone.
func (c *Cluster) Kill() {
	for _, b := range c.Brokers {
		b.Kill()
	}
}
