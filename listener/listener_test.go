package listener

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	f := func(s Spec, want []Listener) {
		t.Helper()
		got, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%+v): %v", s, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%+v)\n got %+v\nwant %+v", s, got, want)
		}
	}
	f(Spec{Listeners: "127.0.0.1:9092"}, []Listener{{Name: "PLAINTEXT", Protocol: Plaintext, Host: "127.0.0.1", Port: 9092}})
	f(Spec{Listeners: "PLAINTEXT://127.0.0.1:9092,sasl_plaintext://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093",
		ControllerNames: "CONTROLLER", Advertised: "SASL_PLAINTEXT://b1.example:19094", InterBroker: "PLAINTEXT"},
		[]Listener{
			{Name: "PLAINTEXT", Protocol: Plaintext, Host: "127.0.0.1", Port: 9092},
			{Name: "SASL_PLAINTEXT", Protocol: SASLPlaintext, Host: "127.0.0.1", Port: 9094, Advertised: "b1.example:19094"},
			{Name: "CONTROLLER", Protocol: Plaintext, Host: "127.0.0.1", Port: 9093, Controller: true},
		})
	f(Spec{Listeners: "CLIENT://:9092,SECURE://[::1]:9093", ProtocolMap: "CLIENT:SASL_PLAINTEXT, SECURE:sasl_ssl"},
		[]Listener{
			{Name: "CLIENT", Protocol: SASLPlaintext, Port: 9092},
			{Name: "SECURE", Protocol: SASLSSL, Host: "::1", Port: 9093},
		})
	// Port 0 may repeat (each gets a free port).
	f(Spec{Listeners: "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"}, []Listener{
		{Name: "PLAINTEXT", Protocol: Plaintext, Host: "127.0.0.1"},
		{Name: "SASL_PLAINTEXT", Protocol: SASLPlaintext, Host: "127.0.0.1"},
	})
}

func TestParseErrors(t *testing.T) {
	f := func(s Spec, want string) {
		t.Helper()
		_, err := Parse(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Parse(%+v) = %v, want an error containing %q", s, err, want)
		}
	}
	f(Spec{}, "listeners: no listener")
	f(Spec{Listeners: "PLAINTEXT://127.0.0.1"}, "want host:port")
	f(Spec{Listeners: "PLAINTEXT://127.0.0.1:99999"}, "want a port")
	f(Spec{Listeners: "CLIENT://127.0.0.1:9092"}, "no security protocol for listener CLIENT")
	f(Spec{Listeners: "PLAINTEXT://:9092,PLAINTEXT://:9093"}, "named twice")
	f(Spec{Listeners: "PLAINTEXT://:9092,SSL://:9092"}, "same port 9092")
	f(Spec{Listeners: "PLAINTEXT://:9092", ProtocolMap: "PLAINTEXT:TLS"}, "unknown security protocol")
	f(Spec{Listeners: "PLAINTEXT://:9092", ProtocolMap: "PLAINTEXT"}, "not NAME:PROTOCOL")
	f(Spec{Listeners: "PLAINTEXT://:9092", Advertised: "SSL://h:9093"}, "SSL is not a listener")
	f(Spec{Listeners: "PLAINTEXT://:9092", Advertised: "PLAINTEXT://0.0.0.0:9092"}, "wildcard host")
	f(Spec{Listeners: "PLAINTEXT://:9092", InterBroker: "INTERNAL"}, "INTERNAL is not a broker listener")
	f(Spec{Listeners: "PLAINTEXT://:9092,CONTROLLER://:9093", ControllerNames: "CONTROLLER", InterBroker: "CONTROLLER"}, "not a broker listener")
}

func TestBrokers(t *testing.T) {
	ls, err := Parse(Spec{Listeners: "PLAINTEXT://:9092,CONTROLLER://:9093", ControllerNames: "controller"})
	if err != nil {
		t.Fatal(err)
	}
	if b := Brokers(ls); len(b) != 1 || b[0].Name != "PLAINTEXT" {
		t.Fatalf("Brokers = %+v", b)
	}
}
