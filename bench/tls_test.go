package bench

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/testcerts"
	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/netio"
)

// TestProduceConsumeTLS runs produce and consume against an SSL listener
// with Config.TLS; with the wrong CA the run fails at the handshake.
func TestProduceConsumeTLS(t *testing.T) {
	ca := testcerts.NewCA(t, "bench CA")
	ncfg := netio.DefaultConfig()
	ncfg.Listeners = []listener.Listener{{Name: "SSL", Protocol: listener.SSL, Host: "127.0.0.1"}}
	ncfg.TLS = map[string]*tls.Config{"SSL": {Certificates: []tls.Certificate{ca.Issue(t, testcerts.Options{}).TLS}}}
	addr := startBrokerOn(t, ncfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := testConfig(addr, "tls")
	cfg.TLS = &tls.Config{RootCAs: ca.Pool}
	cfg.TotalBytes = 4 << 20
	prod, err := Run(ctx, ModeProduce, cfg)
	if err != nil {
		t.Fatalf("produce over TLS: %v", err)
	}
	cfg.TotalBytes, cfg.VerifyCRC = 0, true
	cons, err := Run(ctx, ModeConsume, cfg)
	if err != nil || cons.Bytes != prod.Bytes {
		t.Fatalf("consume over TLS: %v (%d bytes, produced %d)", err, cons.Bytes, prod.Bytes)
	}
	cfg.TLS = &tls.Config{RootCAs: testcerts.NewCA(t, "other").Pool}
	if _, err := Run(ctx, ModeProduce, cfg); err == nil {
		t.Fatal("a run trusting another CA succeeded")
	}
}
