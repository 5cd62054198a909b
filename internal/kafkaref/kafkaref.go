// Package kafkaref starts Apache Kafka itself (the reference
// implementation) as a one-node KRaft cluster on loopback, from the jars
// that e2e/java/pom.xml pins (`mvn dependency:copy-dependencies` puts them
// in e2e/java/lib). The differential tests and the peer benchmark run it
// next to sluiced.
//
// What Start does, as Kafka's own scripts would:
//
//	<dir>/server.properties   process.roles=broker,controller, node.id=1,
//	                          PLAINTEXT and CONTROLLER listeners on free
//	                          127.0.0.1 ports, log.dirs=<dir>/logs,
//	                          replication factors 1, no rebalance delay
//	kafka-storage.sh format   java kafka.tools.StorageTool format --cluster-id=<id> --config=<props>
//	kafka-server-start.sh     java -Xmx1G -Xms1G <G1 flags> kafka.Kafka <props>
//
// and then waits until the PLAINTEXT port answers ApiVersions. The jars
// carry no SLF4J binding, so the broker logs nothing but SLF4J's own
// three-line notice: quiet by construction.
package kafkaref

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/internal/freeport"
)

// Version is the Apache Kafka release e2e/java/pom.xml pins.
const Version = "4.1.1"

// JVMPerformanceOpts are kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS.
var JVMPerformanceOpts = []string{"-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
	"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true"}

// Options says where and how to run the broker.
type Options struct {
	// LibDir holds the Kafka jars (e2e/java/lib).
	LibDir string
	// Dir receives server.properties and the log dir (logs/); it must be
	// fresh or empty.
	Dir string
	// Heap is -Xmx and -Xms (default "1G", as kafka-server-start.sh sets).
	Heap string
	// Port and ControllerPort are the PLAINTEXT and CONTROLLER ports on
	// 127.0.0.1 (0: picked free).
	Port, ControllerPort int
	// Props are extra server.properties entries; they override the
	// generated ones.
	Props map[string]string
	// JVMArgs are added to the broker's JVM flags (tests pass
	// -XX:TieredStopAtLevel=1 to start faster on a loaded machine).
	JVMArgs []string
	// Output receives the JVM's stdout and stderr (default: discarded).
	Output io.Writer
}

// Plan is a formatted, ready-to-run broker: its addresses and the java
// command line that runs it.
type Plan struct {
	Addr           string // PLAINTEXT host:port
	ControllerAddr string // CONTROLLER host:port
	Dir            string
	Java           string   // the java binary
	Args           []string // argv after java
}

// LibDir is e2e/java/lib under the repository root, or $SLUICE_KAFKA_LIB.
func LibDir(repoRoot string) string {
	if d := os.Getenv("SLUICE_KAFKA_LIB"); d != "" {
		return d
	}
	return filepath.Join(repoRoot, "e2e", "java", "lib")
}

// ErrMissing marks a missing prerequisite: no java on PATH or no Kafka jars.
var ErrMissing = errors.New("kafkaref: Apache Kafka prerequisites missing")

// Check reports whether java and the Kafka jars are there; the error
// wraps ErrMissing and says how to get them.
func Check(libDir string) error {
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("%w: no java on PATH (Debian: apt-get install openjdk-17-jre-headless)", ErrMissing)
	}
	jars, _ := filepath.Glob(filepath.Join(libDir, "kafka_2.13-*.jar"))
	if len(jars) == 0 {
		return fmt.Errorf("%w: no kafka_2.13-*.jar in %s (run: cd e2e/java && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib)", ErrMissing, libDir)
	}
	return nil
}

// Prepare picks the ports, writes server.properties and formats the log
// dir (kafka.tools.StorageTool format), without starting the broker.
func Prepare(ctx context.Context, o Options) (*Plan, error) {
	if err := Check(o.LibDir); err != nil {
		return nil, err
	}
	java, _ := exec.LookPath("java")
	lib, err := filepath.Abs(o.LibDir)
	if err != nil {
		return nil, fmt.Errorf("kafkaref: cannot resolve %s: %w", o.LibDir, err)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("kafkaref: cannot resolve %s: %w", o.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kafkaref: cannot create %s: %w", dir, err)
	}
	port, cport := o.Port, o.ControllerPort
	for _, p := range []*int{&port, &cport} {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	plan := &Plan{Addr: fmt.Sprintf("127.0.0.1:%d", port), ControllerAddr: fmt.Sprintf("127.0.0.1:%d", cport),
		Dir: dir, Java: java}
	props := filepath.Join(dir, "server.properties")
	if err := writeProps(props, serverProps(plan, o.Props)); err != nil {
		return nil, err
	}
	cp := filepath.Join(lib, "*")
	// A short-lived tool: the C1 compiler alone starts it sooner.
	format := exec.CommandContext(ctx, java, "-XX:TieredStopAtLevel=1", "-cp", cp, "kafka.tools.StorageTool", "format",
		"--cluster-id="+clusterID(), "--config="+props)
	if out, err := format.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kafkaref: kafka-storage format %s: %w\n%s", props, err, out)
	}
	heap := o.Heap
	if heap == "" {
		heap = "1G"
	}
	plan.Args = append([]string{"-Xmx" + heap, "-Xms" + heap}, JVMPerformanceOpts...)
	plan.Args = append(plan.Args, o.JVMArgs...)
	plan.Args = append(plan.Args, "-cp", cp, "kafka.Kafka", props)
	return plan, nil
}

func serverProps(p *Plan, extra map[string]string) map[string]string {
	m := map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          "1",
		"controller.quorum.voters":                         "1@" + p.ControllerAddr,
		"listeners":                                        "PLAINTEXT://" + p.Addr + ",CONTROLLER://" + p.ControllerAddr,
		"advertised.listeners":                             "PLAINTEXT://" + p.Addr,
		"controller.listener.names":                        "CONTROLLER",
		"listener.security.protocol.map":                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":                       "PLAINTEXT",
		"log.dirs":                                         filepath.Join(p.Dir, "logs"),
		"offsets.topic.replication.factor":                 "1",
		"transaction.state.log.replication.factor":         "1",
		"transaction.state.log.min.isr":                    "1",
		"share.coordinator.state.topic.replication.factor": "1",
		"share.coordinator.state.topic.min.isr":            "1",
		"group.initial.rebalance.delay.ms":                 "0",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func writeProps(path string, m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Generated by sluice internal/kafkaref.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, m[k])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("kafkaref: cannot write %s: %w", path, err)
	}
	return nil
}

// clusterID is a random Kafka Uuid in its base64url form (22
// characters), drawn again when it starts with '-' as Kafka's
// Uuid.randomUuid does: a leading '-' reads as an option on a command line.
func clusterID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
}

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago.
// Never one this process handed out before (internal/freeport).
func FreePort() (int, error) { return freeport.Port() }

// Broker is a running Apache Kafka process.
type Broker struct {
	*Plan
	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's result, set before done is closed
}

// Start prepares and starts the broker and waits (up to ctx) until it
// answers ApiVersions.
func Start(ctx context.Context, o Options) (*Broker, error) {
	plan, err := Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	b := &Broker{Plan: plan, done: make(chan struct{})}
	b.cmd = exec.Command(plan.Java, plan.Args...)
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	b.cmd.Stdout, b.cmd.Stderr = out, out
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("kafkaref: cannot start java: %w", err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.done) }()
	if err := WaitReady(ctx, plan.Addr, b.done); err != nil {
		b.Kill()
		return nil, err
	}
	return b, nil
}

// Pid is the JVM's process id.
func (b *Broker) Pid() int { return b.cmd.Process.Pid }

// Stop sends SIGTERM (Kafka's controlled shutdown) and waits up to
// timeout, then kills the JVM.
func (b *Broker) Stop(timeout time.Duration) error {
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kafkaref: cannot stop pid %d: %w", b.Pid(), err)
	}
	select {
	case <-b.done:
		return nil
	case <-time.After(timeout):
		b.Kill()
		return fmt.Errorf("kafkaref: pid %d ignored SIGTERM for %v: killed", b.Pid(), timeout)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (b *Broker) Kill() {
	_ = b.cmd.Process.Kill()
	<-b.done
}

// WaitReady polls addr every 100 ms until it answers ApiVersions, ctx
// ends, or exited is closed (the process died).
func WaitReady(ctx context.Context, addr string, exited <-chan struct{}) error {
	for {
		err := Ping(ctx, addr)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("kafkaref: broker on %s exited before answering ApiVersions (last: %v)", addr, err)
		case <-ctx.Done():
			return fmt.Errorf("kafkaref: broker on %s not ready: %w (last: %v)", addr, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Ping sends one ApiVersions v0 request to addr and wants error code 0.
func Ping(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("kafkaref: dial %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	// Request header v1: key, version, correlation id, client id.
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, 0)
	body = binary.BigEndian.AppendUint32(body, 1)
	body = binary.BigEndian.AppendUint16(body, 8)
	body = append(body, "kafkaref"...)
	body = req.AppendTo(body)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := conn.Write(append(frame, body...)); err != nil {
		return fmt.Errorf("kafkaref: ApiVersions to %s: %w", addr, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return fmt.Errorf("kafkaref: ApiVersions from %s: %w", addr, err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return fmt.Errorf("kafkaref: ApiVersions from %s: bad response size %d", addr, n)
	}
	resp := make([]byte, n)
	if _, err := io.ReadFull(conn, resp); err != nil {
		return fmt.Errorf("kafkaref: ApiVersions from %s: %w", addr, err)
	}
	r := kmsg.NewPtrApiVersionsResponse()
	r.Version = 0
	if err := r.ReadFrom(resp[4:]); err != nil {
		return fmt.Errorf("kafkaref: ApiVersions from %s: %w", addr, err)
	}
	if r.ErrorCode != 0 {
		return fmt.Errorf("kafkaref: ApiVersions from %s: error code %d", addr, r.ErrorCode)
	}
	return nil
}
