package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// startAuthBroker runs a broker with the authorizer on in which every
// connection (User:ANONYMOUS until SASL) is a super user; combined, with
// its one-voter controller quorum (ACLs in the metadata log, as sluiced
// keeps them), else standalone (acls.json).
func startAuthBroker(t *testing.T, combined bool) string {
	t.Helper()
	ncfg := netio.DefaultConfig()
	ncfg.Addr = "127.0.0.1:0"
	bcfg := broker.DefaultConfig()
	bcfg.Authorizer = &acl.Config{SuperUsers: []string{"User:ANONYMOUS"}}
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
	return srv.Addr().String()
}

// TestACLsGolden drives sluice acls against a broker with an authorizer,
// standalone and with a controller quorum: the same transcripts.
func TestACLsGolden(t *testing.T) {
	for _, combined := range []bool{false, true} {
		t.Run(map[bool]string{false: "standalone", true: "combined"}[combined], func(t *testing.T) {
			testACLsGolden(t, startAuthBroker(t, combined))
		})
	}
	golden(t, "acls-security-disabled", cli(t, startBroker(t), "", "acls", "list"))
}

func testACLsGolden(t *testing.T, addr string) {
	steps := []struct {
		name string
		args []string
	}{
		{"acls-create", []string{"acls", "create", "--allow-principal", "User:ann", "--allow-principal", "User:bob",
			"--operation", "Read", "--operation", "Describe", "--topic", "orders"}},
		{"acls-create-prefixed-deny", []string{"acls", "create", "--deny-principal", "User:eve", "--deny-host", "10.0.0.1",
			"--operation", "Write", "--topic", "logs-", "--resource-pattern-type", "prefixed"}},
		{"acls-create-cluster-json", []string{"acls", "create", "--allow-principal", "User:ops", "--operation", "AlterConfigs",
			"--cluster", "--group", "ops-", "--output", "json"}},
		{"acls-list", []string{"acls", "list"}},
		{"acls-list-topic", []string{"acls", "list", "--topic", "orders"}},
		{"acls-list-match", []string{"acls", "list", "--topic", "logs-app", "--resource-pattern-type", "match"}},
		{"acls-list-principal-yaml", []string{"acls", "list", "--principal", "User:ann", "--output", "yaml"}},
		{"acls-delete", []string{"acls", "delete", "--topic", "orders", "--allow-principal", "User:bob"}},
		{"acls-list-after-delete", []string{"acls", "list", "--topic", "orders"}},
		{"acls-create-bad-principal", []string{"acls", "create", "--allow-principal", "ann", "--topic", "t"}},
		{"acls-create-no-principal", []string{"acls", "create", "--topic", "t"}},
		{"acls-create-bad-operation", []string{"acls", "create", "--allow-principal", "User:a", "--operation", "Fly", "--topic", "t"}},
	}
	for _, s := range steps {
		golden(t, s.name, cli(t, addr, "", s.args...))
	}
}
