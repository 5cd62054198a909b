package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// startSASLBroker runs a broker with a PLAINTEXT and a SASL_PLAINTEXT
// listener (PLAIN user admin/admin-pw, SCRAM enabled) and returns both
// addresses; combined, with its one-voter controller quorum (users in the
// metadata log, as sluiced keeps them), else standalone.
func startSASLBroker(t *testing.T, combined bool) (plain, sasl string) {
	t.Helper()
	ncfg := netio.DefaultConfig()
	ncfg.Listeners = []listener.Listener{
		{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: "127.0.0.1"},
		{Name: "SASL_PLAINTEXT", Protocol: listener.SASLPlaintext, Host: "127.0.0.1"},
	}
	bcfg := broker.DefaultConfig()
	bcfg.SASL.Mechanisms = auth.Mechanisms
	bcfg.SASL.PlainUsers = map[string]map[string]string{"SASL_PLAINTEXT": {"admin": "admin-pw"}}
	bcfg.SASL.FailedAuthDelay = time.Millisecond
	dir := t.TempDir()
	scfg := broker.ServerConfig{
		Store:  partition.StoreConfig{Dir: dir, Defaults: partition.DefaultConfig()},
		Net:    ncfg,
		Broker: bcfg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if combined {
		scfg.OpenController = oneVoter(dir)
	}
	srv, err := broker.StartServer(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	awaitRegistered(t, srv)
	a := srv.Addrs()
	return a["PLAINTEXT"].String(), a["SASL_PLAINTEXT"].String()
}

// TestUsersAndSASLFlags: sluice users manages SCRAM users, and every
// command authenticates with --sasl-mechanism/--user/--password or a
// Kafka --command-config file; standalone and with a controller quorum.
func TestUsersAndSASLFlags(t *testing.T) {
	for _, combined := range []bool{false, true} {
		t.Run(map[bool]string{false: "standalone", true: "combined"}[combined], func(t *testing.T) {
			plain, sasl := startSASLBroker(t, combined)
			testUsersAndSASLFlags(t, plain, sasl)
		})
	}
}

func testUsersAndSASLFlags(t *testing.T, plain, sasl string) {
	f := func(addr string, wantExit string, want []string, args ...string) {
		t.Helper()
		out := cli(t, addr, "", args...)
		if !strings.Contains(out, "[exit "+wantExit+"]") {
			t.Fatalf("want exit %s:\n%s", wantExit, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("no %q in:\n%s", w, out)
			}
		}
	}
	f(plain, "0", []string{"alice", "OK"}, "users", "create", "alice", "--user-password", "alice-pw", "--iterations", "8192")
	f(plain, "0", []string{"alice  SCRAM-SHA-256,SCRAM-SHA-512  8192,8192"}, "users", "list")
	f(plain, "0", []string{`"mechanisms"`}, "users", "list", "alice", "--output", "json")
	f(plain, "2", []string{"--iterations 100"}, "users", "create", "bob", "--user-password", "x", "--iterations", "100")

	f(sasl, "0", nil, "topics", "list", "--sasl-mechanism", "SCRAM-SHA-512", "--user", "alice", "--password", "alice-pw")
	f(sasl, "0", []string{"alice"}, "users", "list", "--sasl-mechanism", "PLAIN", "--user", "admin", "--password", "admin-pw")
	f(sasl, "1", []string{"SASL_AUTHENTICATION_FAILED"}, "topics", "list", "--sasl-mechanism", "SCRAM-SHA-256", "--user", "alice", "--password", "nope")
	f(sasl, "2", []string{"--sasl-mechanism"}, "topics", "list", "--sasl-mechanism", "GSSAPI", "--user", "alice", "--password", "x")
	f(sasl, "2", []string{"need --sasl-mechanism"}, "topics", "list", "--user", "alice")

	props := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(props, []byte("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"+
		"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n  username=\"alice\" password=\"alice-pw\";\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f(sasl, "0", nil, "topics", "list", "--command-config", props)
	f(sasl, "1", []string{"SASL_AUTHENTICATION_FAILED"}, "topics", "list", "--command-config", props, "--password", "flag-wins")

	f(plain, "0", []string{"alice", "OK"}, "users", "delete", "alice")
	f(plain, "1", []string{"RESOURCE_NOT_FOUND"}, "users", "list", "alice")
	f(sasl, "1", []string{"SASL_AUTHENTICATION_FAILED"}, "topics", "list", "--command-config", props)
}
