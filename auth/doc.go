// Package auth is Sluice's SASL authentication: the mechanisms PLAIN
// (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677; the exchange is
// github.com/xdg-go/scram's server), the SCRAM credentials Kafka stores
// (KIP-554) and PLAIN users from Kafka's JAAS syntax. It knows nothing of
// sockets, files or Kafka requests: the broker feeds a Session the tokens
// of SaslAuthenticate (or of the raw v0 frames) and sends back what it
// returns.
//
// A Session's exchange, per mechanism:
//
//	PLAIN          client: [authzid] NUL user NUL password   server: (empty)  done
//	SCRAM-SHA-*    client: n,,n=user,r=cnonce                 server: r=cnonce+snonce,s=salt,i=iterations
//	               client: c=biws,r=cnonce+snonce,p=proof     server: v=signature  done
//
// Every failure (malformed or replayed message, wrong nonce, unknown user,
// wrong password) is a *Failure carrying the message Kafka gives the
// client with SASL_AUTHENTICATION_FAILED.
package auth
