package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// ApiVersions: v0-4
//
// Behavior:
// * Advertises every API key registered in this package with its range
//   (but for BrokerRegistration and BrokerHeartbeat, which only brokers
//   send, as Kafka's broker listener leaves them out);
//   later APIs appear by registering, nothing here changes.
// * An unsupported request version gets a v0 response with
//   UNSUPPORTED_VERSION (35) and the ranges (dispatch.go), without parsing
//   the body.
// * The response header never has tagged fields, even at v3+.
// * v3+ advertise one feature (KIP-584), transaction.version: supported
//   0-2, finalized at the configured level (transaction.version, default
//   2), with FinalizedFeaturesEpoch the broker's start time in ms (it
//   grows across restarts, so a client that compares epochs, as the Java
//   client does, takes a new level). The Java client (4.0+) and franz-go
//   use transactions v2 when the finalized level is 2. The v0 answer to
//   an unsupported version has no features. ThrottleMillis is 0.

const apiVersionsKey = 18

func init() { register(apiVersionsKey, 0, 4, handleAPIVersions) }

func handleAPIVersions(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	resp := apiVersionsResponse()
	if r.version >= 3 {
		b.appendFeatures(resp)
	}
	return r.respond(resp), nil
}

// transactionVersionFeature is the name of the transaction.version feature.
const transactionVersionFeature = "transaction.version"

// appendFeatures fills the supported and finalized features.
func (b *Broker) appendFeatures(resp *kmsg.ApiVersionsResponse) {
	sf := kmsg.NewApiVersionsResponseSupportedFeature()
	sf.Name, sf.MinVersion, sf.MaxVersion = transactionVersionFeature, 0, 2
	resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	ff := kmsg.NewApiVersionsResponseFinalizedFeature()
	ff.Name = transactionVersionFeature
	ff.MinVersionLevel, ff.MaxVersionLevel = b.txnVersion, b.txnVersion
	resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	resp.FinalizedFeaturesEpoch = b.featuresEpoch
}

// apiVersionsResponse lists the registered APIs.
func apiVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, a := range registeredAPIs() {
		if a.hidden {
			continue
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}
