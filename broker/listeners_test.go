package broker

import (
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/listener"
)

// withListeners serves ls (port 0 each) instead of the one PLAINTEXT
// listener.
func withListeners(ls ...listener.Listener) func(*ServerConfig) {
	return func(c *ServerConfig) { c.Net.Listeners = ls }
}

// TestMetadataAdvertisesConnectedListener: Metadata, FindCoordinator and
// DescribeCluster give each client the advertised address of the listener
// it connected on, as Kafka does.
func TestMetadataAdvertisesConnectedListener(t *testing.T) {
	ts := startServer(t, "", withListeners(
		listener.Listener{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: "127.0.0.1"},
		listener.Listener{Name: "EXTERNAL", Protocol: listener.Plaintext, Host: "127.0.0.1", Advertised: "kafka.example:19092"},
	))
	addrs := ts.Addrs()
	plainPort := int32(addrs["PLAINTEXT"].(*net.TCPAddr).Port)
	f := func(name, host string, port int32) {
		t.Helper()
		rc := dialRaw(t, addrs[name].String())
		md := rc.roundTrip(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
		if len(md.Brokers) != 1 || md.Brokers[0].Host != host || md.Brokers[0].Port != port {
			t.Fatalf("listener %s: Metadata brokers %+v, want %s:%d", name, md.Brokers, host, port)
		}
		dc := rc.roundTrip(kmsg.NewPtrDescribeClusterRequest()).(*kmsg.DescribeClusterResponse)
		if len(dc.Brokers) != 1 || dc.Brokers[0].Host != host || dc.Brokers[0].Port != port {
			t.Fatalf("listener %s: DescribeCluster brokers %+v", name, dc.Brokers)
		}
	}
	f("PLAINTEXT", "127.0.0.1", plainPort)
	f("EXTERNAL", "kafka.example", 19092)
	want := "PLAINTEXT://127.0.0.1:" + strconv.Itoa(int(plainPort)) + ",EXTERNAL://kafka.example:19092"
	if got := ts.Broker().advertisedListeners(); got != want {
		t.Fatalf("advertised.listeners = %q, want %q", got, want)
	}
}

// TestSASLListenerRefusesUnauthenticated: on a SASL_PLAINTEXT listener,
// ApiVersions is served before authentication but any other request
// closes the connection (counted); the PLAINTEXT listener of the same
// broker serves it.
func TestSASLListenerRefusesUnauthenticated(t *testing.T) {
	ts := startServer(t, "", withListeners(
		listener.Listener{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: "127.0.0.1"},
		listener.Listener{Name: "SASL_PLAINTEXT", Protocol: listener.SASLPlaintext, Host: "127.0.0.1"},
	))
	addrs := ts.Addrs()
	rc := dialRaw(t, addrs["SASL_PLAINTEXT"].String())
	if av := rc.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); av.ErrorCode != 0 {
		t.Fatalf("ApiVersions: error %d", av.ErrorCode)
	}
	rc.send(kmsg.NewPtrMetadataRequest())
	rc.expectClosed()
	if n := ts.Broker().SASLStats().Unauthenticated; n != 1 {
		t.Fatalf("unauthenticated = %d, want 1", n)
	}
	plain := dialRaw(t, addrs["PLAINTEXT"].String())
	if md := plain.roundTrip(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse); len(md.Brokers) != 1 {
		t.Fatalf("PLAINTEXT Metadata: %+v", md)
	}
}
