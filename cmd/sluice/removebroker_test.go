package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRemoveBrokerGolden drives sluice cluster remove-broker against a
// one-node cluster that also holds a registration of a broker 7 that
// never heartbeats (registered fenced, as a stopped broker is): the live
// broker is refused, an unknown id too, broker 7 is removed.
func TestRemoveBrokerGolden(t *testing.T) {
	addr := startCombinedNode(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID, reg.ClusterID, reg.IncarnationID = 7, dc.ClusterID, [16]byte{7}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", 1
	reg.Listeners = append(reg.Listeners, l)
	// BrokerRegistration is not listed in ApiVersions (brokers send it to
	// the controller): a raw frame.
	resp := reg.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	if err := rawRequest(addr, reg, resp); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("register broker 7: %+v, %v", resp, err)
	}
	steps := []struct {
		name string
		args []string
	}{
		{"remove-broker-alive", []string{"cluster", "remove-broker", "1"}},
		{"remove-broker-unknown", []string{"cluster", "remove-broker", "9", "--output", "json"}},
		{"remove-broker-bad-id", []string{"cluster", "remove-broker", "seven"}},
		{"remove-broker", []string{"cluster", "remove-broker", "7"}},
		{"remove-broker-again", []string{"cluster", "remove-broker", "7"}},
	}
	for _, s := range steps {
		golden(t, s.name, cli(t, addr, "", s.args...))
	}
}

// rawRequest sends req on a connection of its own at the request's
// highest version and decodes the answer into resp.
func rawRequest(addr string, req kmsg.Request, resp kmsg.Response) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req.SetVersion(req.MaxVersion())
	resp.SetVersion(req.MaxVersion())
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return err
	}
	if len(body) < 5 {
		return fmt.Errorf("short response: %d bytes", len(body))
	}
	body = body[4:] // correlation id
	if resp.IsFlexible() {
		body = body[1:] // no header tags
	}
	return resp.ReadFrom(body)
}
