package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestSeveralListeners: sluiced serves a PLAINTEXT and a SASL_PLAINTEXT
// listener at once (the controller listener of Kafka's stock file is not
// bound), logging one "listening" line per listener.
func TestSeveralListeners(t *testing.T) {
	file := writeFile(t, "server.properties", "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0\n"+
		"controller.listener.names=CONTROLLER\n")
	p := start(t, nil, "--config", file, "--data-dir", t.TempDir())
	p.waitLog("listening")
	names := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for len(names) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval
		for _, rec := range p.logs("listening") {
			names[rec["listener"].(string)] = rec["addr"].(string)
		}
	}
	if len(names) != 2 || names["PLAINTEXT"] == "" || names["SASL_PLAINTEXT"] == "" || names["CONTROLLER"] != "" {
		t.Fatalf("listening on %v", names)
	}
	if p.addr != names["PLAINTEXT"] {
		t.Fatalf("ready line says %q, PLAINTEXT listener is %q", p.addr, names["PLAINTEXT"])
	}
	for _, a := range names {
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	p.stop()
}

// TestTLSListenerWithoutKeystore: an SSL or SASL_SSL listener without a
// keystore stops the start, naming the listener and the missing keys.
func TestTLSListenerWithoutKeystore(t *testing.T) {
	code, _, stderr := runToExit(t, nil, "--data-dir", t.TempDir(), "--listen", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "SASL_SSL://127.0.0.1:0") || !strings.Contains(stderr, "ssl.keystore.location") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
