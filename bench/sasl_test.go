package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// startSASLBroker runs a broker whose only listener is SASL_PLAINTEXT,
// with PLAIN user alice (alice-pw).
func startSASLBroker(t *testing.T) string {
	t.Helper()
	ncfg := netio.DefaultConfig()
	ncfg.Listeners = []listener.Listener{{Name: "SASL_PLAINTEXT", Protocol: listener.SASLPlaintext, Host: "127.0.0.1"}}
	bcfg := broker.DefaultConfig()
	bcfg.SASL.Mechanisms = auth.Mechanisms
	bcfg.SASL.PlainUsers = map[string]map[string]string{"SASL_PLAINTEXT": {"alice": "alice-pw"}}
	bcfg.SASL.FailedAuthDelay = time.Millisecond
	srv, err := broker.StartServer(broker.ServerConfig{
		Store:  partition.StoreConfig{Dir: t.TempDir(), Defaults: partition.DefaultConfig()},
		Net:    ncfg,
		Broker: bcfg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addr().String()
}

// TestSASLProduce: every bench connection authenticates on a SASL
// listener; a wrong password fails the run with the broker's error.
func TestSASLProduce(t *testing.T) {
	addr := startSASLBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(addr, "sasl")
	cfg.TotalBytes = 2 << 20
	cfg.SASL = SASL{Mechanism: "PLAIN", User: "alice", Password: "alice-pw"}
	res, err := Run(ctx, ModeProduce, cfg)
	if err != nil || res.Bytes < cfg.TotalBytes {
		t.Fatalf("produce: %+v %v", res, err)
	}
	cfg.SASL.Password = "wrong"
	if _, err := Run(ctx, ModeProduce, cfg); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v", err)
	}
}
