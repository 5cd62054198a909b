package broker

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// DescribeConfigs: v0-4
//
// Behavior:
// * With an authorizer: BROKER and BROKER_LOGGER resources need DESCRIBE_CONFIGS on
//   the cluster, else CLUSTER_AUTHORIZATION_FAILED; TOPIC resources need it on
//   the topic, else TOPIC_AUTHORIZATION_FAILED (per resource).
// * TOPIC resources: every topic config Kafka 3.9 documents
//   (topicconfig.go, docs/TOPIC-CONFIGS.md), sorted by name, with the
//   source of its value: DYNAMIC_TOPIC_CONFIG for an override, then this
//   node's DYNAMIC_BROKER_CONFIG, the cluster's
//   DYNAMIC_DEFAULT_BROKER_CONFIG (dynconfig.go), STATIC_BROKER_CONFIG
//   (set in the file, environment or flags, or differing from Kafka's
//   default when the broker was not told), DEFAULT_CONFIG; never
//   read-only or sensitive. An illegal name: INVALID_TOPIC_EXCEPTION; an
//   unknown topic: UNKNOWN_TOPIC_OR_PARTITION.
// * BROKER resources: this node's id lists its own configs, every key the
//   daemon read (Config.StaticConfigs, with STATIC_BROKER_CONFIG or
//   DEFAULT_CONFIG) and the broker synonyms of the topic configs; those
//   are writable (dynamic) and show a dynamic value where one is set, the
//   rest are read-only. "" is the cluster-wide dynamic default resource,
//   as in Kafka: it lists the cluster-level dynamic configs. Another id
//   or a non-number: INVALID_REQUEST. Other resource types:
//   INVALID_REQUEST.
// * ConfigNames filters (null: all; unknown names are left out).
// * IncludeSynonyms (v1+): the value's sources, most specific first.
//   IncludeDocumentation (v3+): a one-line description. ConfigType (v3+)
//   always. IsDefault (v0) for values that are not overrides.

func init() { register(32, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i := range req.Resources {
		rr := &req.Resources[i]
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []configEntry
		err := b.configDenied(r, rr.ResourceType, rr.ResourceName, &chkDescCfgBroker, &chkDescCfgTopic)
		if err == nil {
			entries, err = b.describeResource(rr.ResourceType, rr.ResourceName)
		}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = b.errorResult(err, "describe configs")
		} else {
			sr.Configs = describedConfigs(filterEntries(entries, rr.ConfigNames), req)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return r.respond(resp), nil
}

// describeResource returns every config of one resource.
func (b *Broker) describeResource(typ kmsg.ConfigResourceType, name string) ([]configEntry, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if err := validateTopicName(name); err != nil {
			return nil, err
		}
		t := b.topics.get(name)
		if t == nil {
			return nil, newAPIError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
		}
		return b.topicConfigEntries(t.configs), nil
	case kmsg.ConfigResourceTypeBroker:
		if name == "" {
			return b.brokerConfigEntries(true), nil // the cluster-wide dynamic defaults
		}
		if err := b.checkBrokerName(name); err != nil {
			return nil, err
		}
		return b.brokerConfigEntries(false), nil
	default:
		return nil, newAPIError(kerr.InvalidRequest, "Unsupported resource type %d.", typ)
	}
}

// checkBrokerName accepts this node's id.
func (b *Broker) checkBrokerName(name string) error {
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || int32(id) != b.cfg.NodeID {
		return newAPIError(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s",
			b.cfg.NodeID, name)
	}
	return nil
}

// filterEntries keeps the named configs (names nil: all).
func filterEntries(es []configEntry, names []string) []configEntry {
	if names == nil {
		return es
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	out := es[:0:0]
	for _, e := range es {
		if want[e.name] {
			out = append(out, e)
		}
	}
	return out
}

// describedConfigs encodes entries with what the request asked for.
func describedConfigs(es []configEntry, req *kmsg.DescribeConfigsRequest) []kmsg.DescribeConfigsResponseResourceConfig {
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(es))
	for _, e := range es {
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.Value, c.Source, c.ConfigType = e.name, e.value, e.source, e.typ
		c.ReadOnly = e.readOnly
		c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig || e.source == kmsg.ConfigSourceStaticBrokerConfig
		if req.IncludeSynonyms {
			c.ConfigSynonyms = make([]kmsg.DescribeConfigsResponseResourceConfigConfigSynonym, 0, len(e.synonyms))
			for _, s := range e.synonyms {
				ks := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				ks.Name, ks.Value, ks.Source = s.name, s.value, s.source
				c.ConfigSynonyms = append(c.ConfigSynonyms, ks)
			}
		}
		if req.IncludeDocumentation {
			doc := e.doc
			c.Documentation = &doc
		}
		out = append(out, c)
	}
	return out
}
