package bench

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"
)

// SASL makes every connection authenticate (a SASL_PLAINTEXT listener)
// before the run: SaslHandshake v1 then SaslAuthenticate. Mechanism ""
// means none.
type SASL struct {
	Mechanism      string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	User, Password string
}

// authenticate runs s's exchange on c.
func (c *conn) authenticate(s SASL) error {
	if s.Mechanism == "" {
		return nil
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, s.Mechanism
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	if err := c.roundTrip(hs, hsResp); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(hsResp.ErrorCode); err != nil {
		return fmt.Errorf("%w: SASL handshake %s (broker offers %s): %w", errBroker, s.Mechanism, strings.Join(hsResp.SupportedMechanisms, ","), err)
	}
	step, err := saslSteps(s)
	if err != nil {
		return err
	}
	var in []byte
	for {
		out, done, err := step(in)
		if err != nil {
			return fmt.Errorf("bench: SASL %s: %w", s.Mechanism, err)
		}
		if done {
			return nil
		}
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 1, out
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		if err := c.roundTrip(au, resp); err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			msg := ""
			if resp.ErrorMessage != nil {
				msg = ": " + *resp.ErrorMessage
			}
			return fmt.Errorf("%w: SASL %s as %s: %w%s", errBroker, s.Mechanism, s.User, err, msg)
		}
		in = resp.SASLAuthBytes
		if s.Mechanism == "PLAIN" {
			return nil
		}
	}
}

// saslSteps returns the client side of s's exchange: each call takes the
// server's last token and returns the next one, or done.
func saslSteps(s SASL) (func([]byte) ([]byte, bool, error), error) {
	if s.Mechanism == "PLAIN" {
		return func([]byte) ([]byte, bool, error) {
			return []byte("\x00" + s.User + "\x00" + s.Password), false, nil
		}, nil
	}
	hf := scram.SHA256
	switch s.Mechanism {
	case "SCRAM-SHA-256":
	case "SCRAM-SHA-512":
		hf = scram.SHA512
	default:
		return nil, fmt.Errorf("bench: SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	cl, err := hf.NewClient(s.User, s.Password, "")
	if err != nil {
		return nil, fmt.Errorf("bench: SCRAM client: %w", err)
	}
	conv := cl.NewConversation()
	return func(in []byte) ([]byte, bool, error) {
		out, err := conv.Step(string(in))
		if err != nil {
			return nil, false, err
		}
		return []byte(out), conv.Done() && out == "", nil
	}, nil
}
