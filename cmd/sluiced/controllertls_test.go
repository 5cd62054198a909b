package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/internal/testcerts"
)

// Three controller-only nodes whose CONTROLLER listener is SSL with
// client certificates required, and two broker-only nodes whose
// inter-broker listener is SSL too: the brokers reach the controllers
// over TLS (the CONTROLLER listener's protocol, their keystore's
// certificate offered), register, heartbeat, have topics created through
// the controller-only leader and replicate over their SSL listener. A
// plaintext Kafka request to a controller is not answered. The same with
// SASL_SSL on CONTROLLER: the brokers log in with PLAIN
// (sasl.mechanism.controller.protocol).
func TestControllerListenerTLS(t *testing.T) {
	t.Run("SSL", func(t *testing.T) { controllerTLS(t, "SSL", "listener.name.controller.ssl.client.auth=required\n") })
	t.Run("SASL_SSL", func(t *testing.T) {
		controllerTLS(t, "SASL_SSL", "sasl.enabled.mechanisms=PLAIN\nsasl.mechanism.controller.protocol=PLAIN\n"+
			`listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required `+
			`username="broker" password="broker-secret" user_broker="broker-secret";`+"\n")
	})
}

// controllerTLS runs TestControllerListenerTLS with the CONTROLLER
// listener on protocol, with extra settings for every node.
func controllerTLS(t *testing.T, protocol, extra string) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "controller CA")
	keystore := ca.Issue(t, testcerts.Options{}).WriteKeystore(t, dir, "node.pem")
	truststore := ca.WriteCA(t, dir, "ca.pem")
	voters := threeVoters(t)
	common := fmt.Sprintf(`controller.quorum.voters=%s
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SSL,CONTROLLER:%s
ssl.keystore.type=PEM
ssl.keystore.location=%s
ssl.truststore.type=PEM
ssl.truststore.location=%s
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
`, strings.Join(voters, ","), protocol, keystore, truststore) + extra
	var ctlAddrs []string
	for i := range 3 {
		_, addr, _ := strings.Cut(voters[i], "@")
		ctlAddrs = append(ctlAddrs, addr)
		conf := writeFile(t, "controller.properties", common+fmt.Sprintf("process.roles=controller\nnode.id=%d\nlisteners=CONTROLLER://%s\nlog.dirs=%s\n",
			i+1, addr, t.TempDir()))
		p := start(t, nil, "--config", conf, "--cluster-id", "controller-tls")
		if p.addr != addr {
			t.Fatalf("controller %d: ready at %q, want %s:\n%s", i+1, p.addr, addr, p.stderr)
		}
	}
	var brokers []*proc
	for id := 4; id <= 5; id++ {
		conf := writeFile(t, "broker.properties", common+fmt.Sprintf("process.roles=broker\nnode.id=%d\nlisteners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0\n"+
			"inter.broker.listener.name=INTERNAL\nlog.dirs=%s\n",
			id, t.TempDir()))
		p := start(t, nil, "--config", conf, "--cluster-id", "controller-tls")
		if p.addr == "" {
			t.Fatalf("broker %d did not start:\n%s", id, p.stderr)
		}
		brokers = append(brokers, p)
	}
	addrs := []string{brokers[0].addr, brokers[1].addr}
	agreed(t, addrs, 20*time.Second, func(v clusterView) string {
		if !slices.Equal(v.voters, []int32{1, 2, 3}) || !slices.Equal(v.observers, []int32{4, 5}) {
			return fmt.Sprintf("voters %v observers %v, want 1-3 and 4, 5", v.voters, v.observers)
		}
		return brokersAre(4, 5)(v)
	})
	for _, a := range ctlAddrs {
		if _, err := request(a, kmsg.NewPtrApiVersionsRequest()); err == nil {
			t.Fatalf("controller %s answered a plaintext request on its SSL CONTROLLER listener", a)
		}
	}
	createTopicN(t, brokers[0].addr, "tls-ctl", 4, time.Now().Add(10*time.Second))
	if on := replicasOn(t, brokers[1].addr, "tls-ctl", 4); !slices.Equal(on, []int32{4, 5}) {
		t.Fatalf("replicas of tls-ctl on %v, want 4 and 5", on)
	}
	produceAll(t, addrs, "tls-ctl", 4)
	for _, b := range brokers {
		b.stop()
	}
}
