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
// * No features: SupportedFeatures and FinalizedFeatures are empty,
//   FinalizedFeaturesEpoch -1. ThrottleMillis is 0.

const apiVersionsKey = 18

func init() { register(apiVersionsKey, 0, 4, handleAPIVersions) }

func handleAPIVersions(_ context.Context, _ *Broker, r *request) (*netio.Response, error) {
	return r.respond(apiVersionsResponse()), nil
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
