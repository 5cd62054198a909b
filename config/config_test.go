package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/listener"
)

func TestParseProperties(t *testing.T) {
	f := func(in string, want ...Property) {
		t.Helper()
		got, err := ParseProperties(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", in, got, want)
		}
	}
	p := func(k, v string, line int) Property { return Property{k, v, line} }
	f("")
	f("# c\n! c\n   \n")
	f("a=1", p("a", "1", 1))
	f("a:1\nb 2\n c = 3 ", p("a", "1", 1), p("b", "2", 2), p("c", "3 ", 3))
	f("a=x \\\n    y\\\n z\nb=2", p("a", "x yz", 1), p("b", "2", 4))
	f(`a\ b\=c=\u00e9\t\\`, p("a b=c", "é\t\\", 1))
	f("a=", p("a", "", 1))
	f("a=\\\\\nb=1", p("a", `\`, 1), p("b", "1", 2))
	f("a=1\\", p("a", "1", 1))
	f("  #not=a comment? it is\nk=v # not a comment", p("k", "v # not a comment", 2))
	if _, err := ParseProperties(strings.NewReader(`a=\u12`)); err == nil {
		t.Fatal("want an error for a short \\u escape")
	}
}

// load writes file (if not "") and loads it with environ and flag args.
func load(t *testing.T, file string, environ []string, args ...string) (*Config, *Settings, error) {
	t.Helper()
	path := ""
	if file != "" {
		path = filepath.Join(t.TempDir(), "server.properties")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fl := BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	return Load(path, environ, fl)
}

func TestDefaults(t *testing.T) {
	c, s, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listeners:        []listener.Listener{{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: "127.0.0.1", Port: 9092}},
		SASLMechanisms:   []string{"SCRAM-SHA-256", "SCRAM-SHA-512"},
		SASL:             SASL{MaxReceiveBytes: 512 << 10, FailedAuthDelay: 100 * time.Millisecond, FailedAuthWindow: time.Minute},
		InterBroker:      InterBroker{Listener: "PLAINTEXT", Protocol: listener.Plaintext},
		ControllerClient: InterBroker{Listener: "CONTROLLER", Protocol: listener.Plaintext},
		Listen:           "127.0.0.1:9092", NodeID: 1, SocketRequestMaxBytes: 100 << 20, ConnectionsMaxIdle: 10 * time.Minute,
		MaxConnections: maxInt32, MaxConnectionsPerIP: maxInt32, MaxConnectionCreationRate: maxInt32, RequestReadTimeout: 30 * time.Second,
		DataDir: "./data", NumPartitions: 1, AutoCreateTopics: true, RetentionMs: 7 * day, RetentionBytes: -1,
		SegmentBytes: 1 << 30, SegmentMs: 7 * day, IndexSizeMaxBytes: 10 << 20, IndexIntervalBytes: 4096,
		MessageMaxBytes: 1048588, MinInsyncReplicas: 1, RetentionCheck: 5 * time.Minute, CheckpointInterval: time.Minute,
		Fsync: "never", FsyncInterval: time.Second,
		CleanupPolicy: "delete", MinCleanableDirtyRatio: 0.5, MaxCompactionLagMs: maxInt64, DeleteRetentionMs: day,
		Cleaner: Cleaner{Threads: 1, DedupeBufferSize: 128 << 20, Backoff: 15 * time.Second},
		Group: Group{InitialRebalanceDelay: 3 * time.Second, MinSessionTimeout: 6 * time.Second, MaxSessionTimeout: 30 * time.Minute,
			OffsetsRetention: 7 * 24 * time.Hour, OffsetsRetentionCheck: 10 * time.Minute, OffsetsTopicPartitions: 50,
			OffsetsTopicSegmentBytes: 16 << 20},
		Txn: Txn{MaxTimeout: 15 * time.Minute, AbortInterval: 10 * time.Second, IDExpiration: 7 * 24 * time.Hour,
			ExpireInterval: time.Hour, StatePartitions: 50, StateSegmentBytes: 100 << 20, Version: 2},
		Cluster: Cluster{Roles: []string{"broker", "controller"}, ControllerListen: "127.0.0.1:9093", ControllerDerived: true, ControllerHost: "127.0.0.1",
			HeartbeatInterval: 2 * time.Second, SessionTimeout: 9 * time.Second,
			ReplicaLagTimeMax: 30 * time.Second, ReplicaFetchWait: 500 * time.Millisecond, NumReplicaFetchers: 1, HWCheckpointInterval: 5 * time.Second,
			AutoLeaderRebalance: true, LeaderImbalanceCheckInterval: 300 * time.Second, LeaderImbalancePercentage: 10, UncleanLeaderElectionInterval: 5 * time.Minute},
		FetchSessionSlots: 1000, FetchSessionEviction: 2 * time.Minute, ConsoleRetention: 7 * 24 * time.Hour, ConsoleSession: 8 * time.Hour,
		LogLevel: "info", LogFormat: "text", ShutdownTimeout: 30 * time.Second, TimerSlack: 4 * time.Millisecond,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", *c, want)
	}
	if len(s.Unknown())+len(s.IgnoredKeys()) != 0 {
		t.Fatalf("warnings without a file: %v %v", s.Unknown(), s.IgnoredKeys())
	}
}

func TestKafkaStockFile(t *testing.T) {
	c, s, err := Load("testdata/kafka-server.properties", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":9092" || c.Advertised != "localhost:9092" || c.DataDir != "/tmp/kraft-combined-logs" || c.RetentionMs != 7*day {
		t.Fatalf("got %+v", c)
	}
	if len(s.Unknown()) != 0 {
		t.Fatalf("unknown keys in Kafka's own file: %v", s.Unknown())
	}
	if len(c.Cluster.BootstrapServers) != 0 || c.Cluster.Voters != "" || !c.Cluster.Standalone {
		t.Fatalf("the stock file's bootstrap server is this node (a standalone quorum): %+v", c.Cluster)
	}
	want := []string{
		"num.network.threads", "num.io.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
		"num.recovery.threads.per.data.dir", "offsets.topic.replication.factor",
		"share.coordinator.state.topic.replication.factor", "share.coordinator.state.topic.min.isr",
		"transaction.state.log.replication.factor", "transaction.state.log.min.isr"}
	if !reflect.DeepEqual(s.IgnoredKeys(), want) {
		t.Fatalf("ignored:\n got %q\nwant %q", s.IgnoredKeys(), want)
	}
}

func TestClusterKeys(t *testing.T) {
	f := func(file string, want Cluster, wantErr string) {
		t.Helper()
		c, _, err := load(t, file, nil)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("%q: got error %v, want one saying %q", file, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", file, err)
		}
		want.Roles = []string{"broker", "controller"}
		clusterTimingDefaults(&want)
		if !reflect.DeepEqual(c.Cluster, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", file, c.Cluster, want)
		}
	}
	// Next to the client port, or port 0 with it.
	f("listeners=PLAINTEXT://10.0.0.1:19092", Cluster{ControllerListen: "10.0.0.1:19093", ControllerDerived: true, ControllerHost: "10.0.0.1"}, "")
	f("listeners=127.0.0.1:0", Cluster{ControllerListen: "127.0.0.1:0", ControllerDerived: true, ControllerHost: "127.0.0.1"}, "")
	// Kafka's stock form: a CONTROLLER listener with a wildcard host.
	f("listeners=PLAINTEXT://:9092,CONTROLLER://:9093\nprocess.roles=controller,broker",
		Cluster{ControllerListen: ":9093", ControllerHost: "localhost"}, "")
	f("listeners=PLAINTEXT://127.0.0.1:9092,CTL://127.0.0.1:7000\ncontroller.listener.names=CTL\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,CTL:PLAINTEXT\n"+
		"controller.quorum.voters=1@127.0.0.1:7000,2@127.0.0.2:7000",
		Cluster{ControllerListen: "127.0.0.1:7000", ControllerHost: "127.0.0.1", Voters: "1@127.0.0.1:7000,2@127.0.0.2:7000"}, "")
	// A broker or a controller alone, with Kafka's checks.
	f("process.roles=broker", Cluster{}, "a broker-only node (process.roles=broker) needs the controller quorum's voters")
	// controller.quorum.bootstrap.servers: a broker-only node's alone.
	f("process.roles=broker\nnode.id=4\ncontroller.quorum.voters=1@127.0.0.1:9093\ncontroller.quorum.bootstrap.servers=127.0.0.1:9093", Cluster{},
		"set either controller.quorum.voters (a static quorum) or controller.quorum.bootstrap.servers, not both")
	f("controller.quorum.bootstrap.servers=127.0.0.1:9093", Cluster{ControllerListen: "127.0.0.1:9093", ControllerDerived: true, ControllerHost: "127.0.0.1", Standalone: true}, "")
	f("controller.quorum.bootstrap.servers=10.0.0.2:9093", Cluster{ControllerListen: "127.0.0.1:9093", ControllerDerived: true, ControllerHost: "127.0.0.1",
		BootstrapServers: []string{"10.0.0.2:9093"}, Join: true}, "")
	f("listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9095\ncontroller.quorum.bootstrap.servers=localhost:9093", Cluster{ControllerListen: "127.0.0.1:9095",
		ControllerHost: "127.0.0.1", BootstrapServers: []string{"localhost:9093"}, Join: true}, "")
	f("controller.quorum.bootstrap.servers=127.0.0.1:9093,10.0.0.2:9093", Cluster{}, "names this node and other controllers")
	f("process.roles=broker\nnode.id=4\ncontroller.quorum.bootstrap.servers=127.0.0.1", Cluster{}, `"127.0.0.1" is not host:port`)
	f("process.roles=broker\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:9093", Cluster{}, "must not be one of the voters")
	f("process.roles=broker\nnode.id=4\ncontroller.quorum.voters=1@127.0.0.1:9093\nlisteners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9094", Cluster{},
		"with process.roles=broker, listeners must not hold a listener named in controller.listener.names")
	f("process.roles=broker\nnode.id=4\ncontroller.quorum.voters=1@127.0.0.1:9093\ncontroller.listener.names=", Cluster{}, "controller.listener.names")
	f("process.roles=controller\nlisteners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093", Cluster{}, "only the controller listeners")
	f("process.roles=controller\nlisteners=CONTROLLER://127.0.0.1:9093\nnode.id=4\ncontroller.quorum.voters=1@127.0.0.1:9093", Cluster{}, "must be one of the voters")
	f("process.roles=broker,zookeeper", Cluster{}, "want broker, controller or broker,controller")
	roles := func(file string, want Cluster) {
		t.Helper()
		c, _, err := load(t, file, nil)
		if err != nil {
			t.Fatalf("%q: %v", file, err)
		}
		clusterTimingDefaults(&want)
		if !reflect.DeepEqual(c.Cluster, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", file, c.Cluster, want)
		}
	}
	roles("process.roles=broker\nnode.id=4\ncontroller.quorum.voters=1@127.0.0.1:9093\nlisteners=PLAINTEXT://127.0.0.1:9092",
		Cluster{Roles: []string{"broker"}, ControllerListen: "127.0.0.1:9093", ControllerDerived: true, ControllerHost: "127.0.0.1", Voters: "1@127.0.0.1:9093"})
	roles("process.roles=broker\nnode.id=4\ncontroller.quorum.bootstrap.servers=127.0.0.1:9093, 127.0.0.2:9093\nlisteners=PLAINTEXT://127.0.0.1:9092",
		Cluster{Roles: []string{"broker"}, ControllerListen: "127.0.0.1:9093", ControllerDerived: true, ControllerHost: "127.0.0.1",
			BootstrapServers: []string{"127.0.0.1:9093", "127.0.0.2:9093"}})
	roles("process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:9093\nlisteners=CONTROLLER://127.0.0.1:9093",
		Cluster{Roles: []string{"controller"}, ControllerListen: "127.0.0.1:9093", ControllerHost: "127.0.0.1", Voters: "1@127.0.0.1:9093"})
	f("broker.heartbeat.interval.ms=9000", Cluster{}, "shorter than broker.session.timeout.ms")
	f("replica.selector.class=com.example.Closest", Cluster{}, "want unset (the leader) or org.apache.kafka.common.replica.RackAwareReplicaSelector")
	roles("replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector",
		Cluster{Roles: []string{"broker", "controller"}, ControllerListen: "127.0.0.1:9093", ControllerDerived: true, ControllerHost: "127.0.0.1",
			ReplicaSelector: "org.apache.kafka.common.replica.RackAwareReplicaSelector"})
}

func TestPrecedence(t *testing.T) {
	f := func(file string, env []string, args []string, check func(*Config) bool) {
		t.Helper()
		c, _, err := load(t, file, env, args...)
		if err != nil {
			t.Fatalf("file %q env %q args %q: %v", file, env, args, err)
		}
		if !check(c) {
			t.Fatalf("file %q env %q args %q: got %+v", file, env, args, c)
		}
	}
	ret := func(ms int64) func(*Config) bool { return func(c *Config) bool { return c.RetentionMs == ms } }
	f("num.partitions=3", nil, nil, func(c *Config) bool { return c.NumPartitions == 3 })
	f("num.partitions=3", []string{"SLUICE_NUM_PARTITIONS=4"}, nil, func(c *Config) bool { return c.NumPartitions == 4 })
	f("num.partitions=3", []string{"SLUICE_NUM_PARTITIONS=4"}, []string{"--num-partitions", "5"}, func(c *Config) bool { return c.NumPartitions == 5 })
	// Kafka's rule within one level: ms > minutes > hours.
	f("log.retention.hours=1\nlog.retention.minutes=2\nlog.retention.ms=3", nil, nil, ret(3))
	f("log.retention.hours=1\nlog.retention.minutes=2", nil, nil, ret(120000))
	f("log.retention.hours=-1", nil, nil, ret(-1))
	f("log.retention.ms=72h", nil, nil, ret(72*3600*1000))
	// A higher level wins whatever key it uses.
	f("log.retention.ms=3", []string{"SLUICE_LOG_RETENTION_HOURS=2"}, nil, ret(2*3600*1000))
	f("log.retention.ms=3", []string{"SLUICE_LOG_RETENTION_HOURS=2"}, []string{"--log-retention-minutes=1"}, ret(60000))
	f("log.dir=/a", nil, nil, func(c *Config) bool { return c.DataDir == "/a" })
	f("log.dir=/a\nlog.dirs=/b", nil, nil, func(c *Config) bool { return c.DataDir == "/b" })
	f("log.dirs=/b", nil, []string{"--data-dir", "/c"}, func(c *Config) bool { return c.DataDir == "/c" })
	f("broker.id=7", nil, nil, func(c *Config) bool { return c.NodeID == 7 })
	f("broker.id=7\nnode.id=8", nil, nil, func(c *Config) bool { return c.NodeID == 8 })
	f("log.roll.hours=1\nlog.roll.ms=500", nil, nil, func(c *Config) bool { return c.SegmentMs == 500 })
	f("", []string{"SLUICE_HTTP_LISTEN=127.0.0.1:0", "SLUICE_BROKERS=x"}, nil, func(c *Config) bool { return c.HTTPListen == "127.0.0.1:0" })
	f("listeners=PLAINTEXT://0.0.0.0:1234", nil, []string{"--listen", "127.0.0.1:0"}, func(c *Config) bool { return c.Listen == "127.0.0.1:0" })
	f("sluice.shutdown.timeout.ms=2000", nil, nil, func(c *Config) bool { return c.ShutdownTimeout == 2*time.Second })
	f("", nil, []string{"--shutdown-timeout", "5s", "--pprof"}, func(c *Config) bool { return c.ShutdownTimeout == 5*time.Second && c.Pprof })
}

// TestCleanerSettings loads the log cleaner's keys from a server.properties
// and checks the resolved values, the disabled cases and the precedence.
func TestCleanerSettings(t *testing.T) {
	file := `log.cleanup.policy=compact, delete
log.cleaner.enable=true
log.cleaner.threads=3
log.cleaner.dedupe.buffer.size=67108864
log.cleaner.backoff.ms=2s
log.cleaner.min.cleanable.ratio=0.25
log.cleaner.min.compaction.lag.ms=60000
log.cleaner.max.compaction.lag.ms=3600000
log.cleaner.delete.retention.ms=1h
log.cleaner.io.max.bytes.per.second=1e9
`
	c, s, err := load(t, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.CleanupPolicy != "compact,delete" || c.MinCleanableDirtyRatio != 0.25 || c.MinCompactionLagMs != 60000 ||
		c.MaxCompactionLagMs != 3600000 || c.DeleteRetentionMs != 3600000 {
		t.Fatalf("topic defaults: got %+v", c)
	}
	if want := (Cleaner{Threads: 3, DedupeBufferSize: 64 << 20, Backoff: 2 * time.Second}); c.Cleaner != want {
		t.Fatalf("cleaner: got %+v, want %+v", c.Cleaner, want)
	}
	if len(s.Unknown()) != 0 || !reflect.DeepEqual(s.IgnoredKeys(), []string{"log.cleaner.io.max.bytes.per.second"}) {
		t.Fatalf("unknown %q ignored %q", s.Unknown(), s.IgnoredKeys())
	}
	f := func(file string, env, args []string, threads int) {
		t.Helper()
		c, _, err := load(t, file, env, args...)
		if err != nil {
			t.Fatal(err)
		}
		if c.Cleaner.Threads != threads {
			t.Fatalf("%q %q %q: threads %d, want %d", file, env, args, c.Cleaner.Threads, threads)
		}
	}
	f("log.cleaner.enable=false\nlog.cleaner.threads=4", nil, nil, -1)
	f("log.cleaner.threads=0", nil, nil, -1)
	f("log.cleaner.enable=false", []string{"SLUICE_LOG_CLEANER_ENABLE=true"}, nil, 1)
	f("log.cleaner.threads=2", []string{"SLUICE_LOG_CLEANER_THREADS=3"}, []string{"--log-cleaner-threads", "4"}, 4)
	c, _, err = load(t, "", []string{"SLUICE_LOG_CLEANUP_POLICY=compact"}, "--log-cleaner-min-cleanable-ratio", "0.9")
	if err != nil || c.CleanupPolicy != "compact" || c.MinCleanableDirtyRatio != 0.9 {
		t.Fatalf("env and flag: %+v %v", c, err)
	}
}

func TestFsyncMapping(t *testing.T) {
	f := func(file string, args []string, mode string, every time.Duration) {
		t.Helper()
		c, _, err := load(t, file, nil, args...)
		if err != nil {
			t.Fatal(err)
		}
		if c.Fsync != mode || c.FsyncInterval != every {
			t.Fatalf("%q %q: got %s every %v, want %s every %v", file, args, c.Fsync, c.FsyncInterval, mode, every)
		}
	}
	f("", nil, "never", time.Second)
	f("log.flush.interval.messages=1", nil, "always", time.Second)
	f("log.flush.interval.messages=10000", nil, "interval", time.Second)
	f("log.flush.interval.messages=9223372036854775807", nil, "never", time.Second)
	f("log.flush.interval.ms=200", nil, "interval", 200*time.Millisecond)
	f("log.flush.interval.messages=1\nsluice.fsync=never", nil, "never", time.Second)
	f("log.flush.interval.messages=1", []string{"--fsync", "interval", "--fsync-interval", "2s"}, "interval", 2*time.Second)
	f("", []string{"--fsync", "always"}, "always", time.Second)
}

// The timer slack is 4 ms unless set, or unless every append is fsync'd
// (the runtime then must hand a processor blocked in fsync on quickly).
func TestTimerSlackDefault(t *testing.T) {
	f := func(file string, args []string, want time.Duration) {
		t.Helper()
		c, _, err := load(t, file, nil, args...)
		if err != nil {
			t.Fatal(err)
		}
		if c.TimerSlack != want {
			t.Fatalf("%q %q: timer slack %v, want %v", file, args, c.TimerSlack, want)
		}
	}
	f("", nil, 4*time.Millisecond)
	f("", []string{"--fsync", "interval"}, 4*time.Millisecond)
	f("", []string{"--fsync", "always"}, 0)
	f("log.flush.interval.messages=1", nil, 0)
	f("log.flush.interval.messages=1", []string{"--timer-slack", "2ms"}, 2*time.Millisecond)
	f("sluice.timer.slack.ms=0", nil, 0)
	f("sluice.timer.slack.ms=10", []string{"--fsync", "always"}, 10*time.Millisecond)
	if _, _, err := load(t, "sluice.timer.slack.ms=2000", nil); err == nil {
		t.Fatal("a 2 s timer slack accepted")
	}
}

// GOMAXPROCS: the runtime's default unless set, with a spare processor
// asked for when every append is fsync'd and sluice.gomaxprocs is unset.
func TestGoMaxProcsDefault(t *testing.T) {
	f := func(file string, args []string, procs int, spare bool) {
		t.Helper()
		c, _, err := load(t, file, nil, args...)
		if err != nil {
			t.Fatal(err)
		}
		if c.Procs != procs || c.SpareProc != spare {
			t.Fatalf("%q %q: procs %d spare %v, want %d %v", file, args, c.Procs, c.SpareProc, procs, spare)
		}
	}
	f("", nil, 0, false)
	f("", []string{"--fsync", "interval"}, 0, false)
	f("", []string{"--fsync", "always"}, 0, true)
	f("log.flush.interval.messages=1", nil, 0, true)
	f("log.flush.interval.messages=1", []string{"--gomaxprocs", "4"}, 4, false)
	f("sluice.gomaxprocs=0\nsluice.fsync=always", nil, 0, false)
	if _, _, err := load(t, "sluice.gomaxprocs=-1", nil); err == nil {
		t.Fatal("a negative GOMAXPROCS accepted")
	}
}

func TestBadValues(t *testing.T) {
	f := func(file string, env []string, args []string, key, value, where string) {
		t.Helper()
		_, _, err := load(t, file, env, args...)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("%q %q %q: %v, want a *config.Error", file, env, args, err)
		}
		if ce.Key != key || ce.Value != value || !strings.Contains(ce.Source.String(), where) ||
			!strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), value) {
			t.Fatalf("%q: %v, want key %s value %q from %s", file, err, key, value, where)
		}
	}
	f("num.partitions=abc", nil, nil, "num.partitions", "abc", "server.properties:1")
	f("\nnum.partitions=0", nil, nil, "num.partitions", "0", "server.properties:2")
	f("auto.create.topics.enable=yes please", nil, nil, "auto.create.topics.enable", "yes please", ":1")
	f("log.dirs=/a,/b", nil, nil, "log.dirs", "/a,/b", ":1")
	f("listeners=CLIENT://:9093", nil, nil, "listeners", "CLIENT://:9093", ":1")
	f("listeners=PLAINTEXT://:1,SSL://:1", nil, nil, "listeners", "PLAINTEXT://:1,SSL://:1", ":1")
	f("advertised.listeners=PLAINTEXT://0.0.0.0:1", nil, nil, "advertised.listeners", "PLAINTEXT://0.0.0.0:1", ":1")
	f("listener.security.protocol.map=PLAINTEXT:TLS", nil, nil, "listener.security.protocol.map", "PLAINTEXT:TLS", ":1")
	f("inter.broker.listener.name=INTERNAL", nil, nil, "inter.broker.listener.name", "INTERNAL", ":1")
	f("sasl.enabled.mechanisms=GSSAPI", nil, nil, "sasl.enabled.mechanisms", "GSSAPI", ":1")
	f("listeners=PLAINTEXT://:1,PLAINTEXT://:2", nil, nil, "listeners", "PLAINTEXT://:1,PLAINTEXT://:2", ":1")
	f("listeners=PLAINTEXT://nohostport", nil, nil, "listeners", "PLAINTEXT://nohostport", ":1")
	f("log.segment.bytes=3000000000", nil, nil, "log.segment.bytes", "3000000000", ":1")
	f("", []string{"SLUICE_LOG_RETENTION_HOURS=x"}, nil, "log.retention.hours", "x", "SLUICE_LOG_RETENTION_HOURS")
	f("sluice.fsync=sometimes", nil, nil, "sluice.fsync", "sometimes", ":1")
	f("sluice.http.listen=nope", nil, nil, "sluice.http.listen", "nope", ":1")
	f("console.alerts.webhook.url=ftp://x", nil, nil, "console.alerts.webhook.url", "ftp://x", ":1")
	f("log.cleaner.min.cleanable.ratio=1.5", nil, nil, "log.cleaner.min.cleanable.ratio", "1.5", ":1")
	f("log.cleanup.policy=shred", nil, nil, "log.cleanup.policy", "shred", ":1")
	f("log.cleaner.dedupe.buffer.size=1000", nil, nil, "log.cleaner.dedupe.buffer.size", "1000", ":1")
	f("log.cleaner.max.compaction.lag.ms=0", nil, nil, "log.cleaner.max.compaction.lag.ms", "0", ":1")
	if _, _, err := load(t, "", nil, "--fsync", "sometimes"); err == nil || !strings.Contains(err.Error(), "want one of never, interval, always") {
		t.Fatalf("bad flag: %v", err)
	}
}

func TestUnknownAndIgnored(t *testing.T) {
	_, s, err := load(t, "zookeeper.connect=x\nzookeeper.session.timeout.ms=1\nfoo.bar=1\nnum.io.threads=8\nbaz=2\nfoo.bar=3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"foo.bar", "baz"}; !reflect.DeepEqual(s.Unknown(), want) {
		t.Fatalf("unknown %q, want %q", s.Unknown(), want)
	}
	if want := []string{"zookeeper.connect", "zookeeper.session.timeout.ms", "num.io.threads"}; !reflect.DeepEqual(s.IgnoredKeys(), want) {
		t.Fatalf("ignored %q, want %q", s.IgnoredKeys(), want)
	}
}

func TestTable(t *testing.T) {
	keys, flags, envs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range Options {
		o := &Options[i]
		if keys[o.Key] || o.Flag != "" && flags[o.Flag] || !o.Pattern && envs[o.Env()] {
			t.Errorf("%s: duplicate key, flag or variable", o.Key)
		}
		keys[o.Key], flags[o.Flag], envs[o.Env()] = true, true, true
		if o.Doc == "" || o.Section == "" {
			t.Errorf("%s: no doc or section", o.Key)
		}
		if o.Default != "" {
			if _, err := parseValue(o, o.Default); err != nil {
				t.Errorf("%s: default %q: %v", o.Key, o.Default, err)
			}
		}
		if isIgnored(o.Key) {
			t.Errorf("%s is both an option and ignored", o.Key)
		}
	}
}

func TestConnectionLimitKeys(t *testing.T) {
	f := func(overrides string, want map[string]int, wantErr bool) {
		t.Helper()
		c, _, err := load(t, "", []string{"SLUICE_MAX_CONNECTIONS_PER_IP_OVERRIDES=" + overrides, "SLUICE_MAX_CONNECTIONS=100"})
		if wantErr {
			if err == nil {
				t.Fatalf("%q: no error", overrides)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", overrides, err)
		}
		if !reflect.DeepEqual(c.MaxConnectionsPerIPOverrides, want) || c.MaxConnections != 100 {
			t.Fatalf("%q: %v, max %d", overrides, c.MaxConnectionsPerIPOverrides, c.MaxConnections)
		}
	}
	f("", nil, false)
	f("10.0.0.5:1000", map[string]int{"10.0.0.5": 1000}, false)
	f("10.0.0.5:1, ::1:0,[fe80::1]:7", map[string]int{"10.0.0.5": 1, "::1": 0, "fe80::1": 7}, false)
	f("broker.example:5", nil, true)
	f("10.0.0.5", nil, true)
	f("10.0.0.5:-1", nil, true)
}

func TestAuthorizerKeys(t *testing.T) {
	c, _, err := load(t, "", nil)
	if err != nil || c.Authorizer || c.AllowEveryoneIfNoACL || c.SuperUsers != nil {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, class := range []string{"org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer"} {
		c, _, err = load(t, "authorizer.class.name="+class+"\nsuper.users=User:admin; User:ops\nallow.everyone.if.no.acl.found=true\n", nil)
		if err != nil || !c.Authorizer || !c.AllowEveryoneIfNoACL || len(c.SuperUsers) != 2 || c.SuperUsers[1] != "User:ops" {
			t.Fatalf("%s: %+v, %v", class, c, err)
		}
	}
	var ce *Error
	if _, _, err = load(t, "authorizer.class.name=com.example.Mine\n", nil); !errors.As(err, &ce) || ce.Key != "authorizer.class.name" {
		t.Fatalf("unknown class: %v", err)
	}
	if _, _, err = load(t, "super.users=admin\n", nil); !errors.As(err, &ce) || ce.Key != "super.users" {
		t.Fatalf("bad super.users: %v", err)
	}
}
func TestListeners(t *testing.T) {
	c, _, err := load(t, "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093\n"+
		"controller.listener.names=CONTROLLER\nadvertised.listeners=SASL_PLAINTEXT://b1:19094\n"+
		"inter.broker.listener.name=PLAINTEXT\nsasl.enabled.mechanisms=plain, SCRAM-SHA-512\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []listener.Listener{
		{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: "127.0.0.1", Port: 9092},
		{Name: "SASL_PLAINTEXT", Protocol: listener.SASLPlaintext, Host: "127.0.0.1", Port: 9094, Advertised: "b1:19094"},
	}
	if !reflect.DeepEqual(c.Listeners, want) || c.Listen != "127.0.0.1:9092" || c.InterBrokerListener != "PLAINTEXT" ||
		!reflect.DeepEqual(c.SASLMechanisms, []string{"PLAIN", "SCRAM-SHA-512"}) {
		t.Fatalf("got %+v %q %q %q", c.Listeners, c.Listen, c.InterBrokerListener, c.SASLMechanisms)
	}
}

func TestSASLUsers(t *testing.T) {
	users := writeTestFile(t, "users", "# PLAIN users\ncarol=carol-pw\n")
	c, s, err := load(t, "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n"+
		"  username=\"admin\" password=\"admin-pw\" user_alice=\"alice-pw\";\nsasl.plain.users.file="+users+"\nconnections.max.reauth.ms=60000\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.SASL.PlainUsers, map[string]map[string]string{"SASL_PLAINTEXT": {"alice": "alice-pw"}}) ||
		!reflect.DeepEqual(c.SASL.PlainUsersAll, map[string]string{"carol": "carol-pw"}) || c.SASL.Reauth != time.Minute {
		t.Fatalf("got %+v", c.SASL)
	}
	for _, v := range s.Effective() {
		if strings.Contains(v.Value, "alice-pw") {
			t.Fatalf("a JAAS password is listed by Effective: %s", v.Option.Key)
		}
	}
	_, _, err = load(t, "listener.name.x.plain.sasl.jaas.config=Nope required;\n", nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "listener.name.x.plain.sasl.jaas.config" {
		t.Fatalf("bad JAAS: %v", err)
	}
	_, _, err = load(t, "sasl.plain.users.file=/nonexistent/users\n", nil)
	if !errors.As(err, &ce) || ce.Key != "sasl.plain.users.file" {
		t.Fatalf("missing users file: %v", err)
	}
}

func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInterBrokerLogin(t *testing.T) {
	const base = "listeners=PLAINTEXT://127.0.0.1:9092,INTERNAL://127.0.0.1:9094\n" +
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL\ninter.broker.listener.name=INTERNAL\n"
	ok := func(file string, want InterBroker) {
		t.Helper()
		c, s, err := load(t, file, nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if c.InterBroker != want || len(s.Unknown()) != 0 || len(s.IgnoredKeys()) != 0 {
			t.Fatalf("%s:\ngot %+v (unknown %q, ignored %q), want %+v", file, c.InterBroker, s.Unknown(), s.IgnoredKeys(), want)
		}
	}
	ok("", InterBroker{Listener: "PLAINTEXT", Protocol: listener.Plaintext})
	ok(base+"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n"+
		`listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="b-pw";`+"\n",
		InterBroker{Listener: "INTERNAL", Protocol: listener.SASLSSL, Mechanism: "SCRAM-SHA-512", Username: "broker", Password: "b-pw"})
	ok(base+"sasl.enabled.mechanisms=PLAIN\n"+ // unset mechanism: the first enabled one
		`listener.name.INTERNAL.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="b" password="p" user_b="p";`+"\n",
		InterBroker{Listener: "INTERNAL", Protocol: listener.SASLSSL, Mechanism: "PLAIN", Username: "b", Password: "p"})
	refusedOn(t, base, "inter.broker.listener.name") // no login
	refusedOn(t, base+"sasl.mechanism.inter.broker.protocol=GSSAPI\n", "sasl.mechanism.inter.broker.protocol")
	refusedOn(t, base+"listener.name.internal.scram-sha-256.sasl.jaas.config=nope\n", "listener.name.internal.scram-sha-256.sasl.jaas.config")
}

// refusedOn checks that loading file fails with an error on key.
func refusedOn(t *testing.T, file, key string) {
	t.Helper()
	_, _, err := load(t, file, nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != key {
		t.Fatalf("%s: err %v, want one on %s", file, err, key)
	}
}

// clusterTimingDefaults sets the heartbeat, session and replication
// settings of want to their defaults (Kafka's).
func clusterTimingDefaults(want *Cluster) {
	want.HeartbeatInterval, want.SessionTimeout = 2*time.Second, 9*time.Second
	want.ReplicaLagTimeMax, want.ReplicaFetchWait, want.NumReplicaFetchers, want.HWCheckpointInterval = 30*time.Second, 500*time.Millisecond, 1, 5*time.Second
	want.AutoLeaderRebalance, want.LeaderImbalanceCheckInterval, want.LeaderImbalancePercentage = true, 300*time.Second, 10
	want.UncleanLeaderElectionInterval = 5 * time.Minute
}

// The controllers' CONTROLLER listener: its protocol from the map, and on
// SASL the login of sasl.mechanism.controller.protocol; a controller-only
// node serves the RPCs on an internal loopback listener of that protocol.
func TestControllerClient(t *testing.T) {
	const broker = "process.roles=broker\nnode.id=4\ncontroller.quorum.voters=1@127.0.0.1:9093\nlisteners=PLAINTEXT://127.0.0.1:9092\n" +
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL\nsasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256\n"
	ok := func(file string, want InterBroker) *Config {
		t.Helper()
		c, s, err := load(t, file, nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if c.ControllerClient != want || len(s.Unknown()) != 0 {
			t.Fatalf("%s:\ngot %+v (unknown %q), want %+v", file, c.ControllerClient, s.Unknown(), want)
		}
		return c
	}
	ok("", InterBroker{Listener: "CONTROLLER", Protocol: listener.Plaintext})
	c := ok(broker+"sasl.mechanism.controller.protocol=SCRAM-SHA-256\n"+
		`listener.name.controller.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="ctl" password="c-pw";`+"\n",
		InterBroker{Listener: "CONTROLLER", Protocol: listener.SASLSSL, Mechanism: "SCRAM-SHA-256", Username: "ctl", Password: "c-pw"})
	if _, ok := c.SSL["CONTROLLER"]; !ok {
		t.Fatalf("no TLS settings for the controllers' listener: %v", c.SSL)
	}
	ok(broker+`listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="b" password="p";`+"\n",
		InterBroker{Listener: "CONTROLLER", Protocol: listener.SASLSSL, Mechanism: "PLAIN", Username: "b", Password: "p"})
	refusedOn(t, broker, "controller.listener.names") // no login
	refusedOn(t, broker+"sasl.mechanism.controller.protocol=GSSAPI\n", "sasl.mechanism.controller.protocol")
	// A controller-only node: its internal listener speaks SSL.
	c = ok("process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:9093\nlisteners=CONTROLLER://127.0.0.1:9093\n"+
		"listener.security.protocol.map=CONTROLLER:SSL\n", InterBroker{Listener: "CONTROLLER", Protocol: listener.SSL})
	if len(c.Listeners) != 1 || c.Listeners[0].Name != "CONTROLLER" || c.Listeners[0].Protocol != listener.SSL || c.Listeners[0].Host != "127.0.0.1" {
		t.Fatalf("controller-only listeners %+v, want an internal SSL one on loopback", c.Listeners)
	}
}
