package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// AlterConfigs: v0-2
//
// Behavior:
// * TOPIC resources: the configs given replace the topic's whole override
//   set (a config left out returns to the broker's default). Validated as
//   CreateTopics does (INVALID_CONFIG naming key and value; a null value
//   is INVALID_CONFIG, as in Kafka), then persisted in topic-configs.json
//   and applied to every partition's live log (partition.Log.SetConfig).
//   Unknown topics: UNKNOWN_TOPIC_OR_PARTITION.
// * BROKER resources: every Sluice broker config is static, so any change
//   is INVALID_REQUEST "Cannot update these configs dynamically", as Kafka
//   answers for a static config; another node id: INVALID_REQUEST.
// * Other resource types, and a resource named twice: INVALID_REQUEST.
// * ValidateOnly: every check, nothing changed.

func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	key := func(i int) resourceKey {
		return resourceKey{req.Resources[i].ResourceType, req.Resources[i].ResourceName}
	}
	eachDistinct(len(req.Resources), key, func(i int, dup bool) {
		rr := &req.Resources[i]
		err := newAPIError(kerr.InvalidRequest, "Duplicate resource.")
		if !dup {
			err = b.alterResource(rr, req.ValidateOnly)
		}
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.ErrorCode, sr.ErrorMessage = b.errorResult(err, "alter configs")
		resp.Resources = append(resp.Resources, sr)
	})
	return r.respond(resp), nil
}

// resourceKey identifies a config resource.
type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// alterResource replaces one resource's configs.
func (b *Broker) alterResource(rr *kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	names := make([]string, 0, len(rr.Configs))
	for _, c := range rr.Configs {
		names = append(names, c.Name)
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		return b.replaceTopicConfigs(rr, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		return b.alterBrokerError(rr.ResourceName, names)
	default:
		return newAPIError(kerr.InvalidRequest, "Unsupported resource type %d.", rr.ResourceType)
	}
}

// replaceTopicConfigs validates the new override set and, unless
// validateOnly, stores and applies it with topics.setConfigs.
func (b *Broker) replaceTopicConfigs(rr *kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	overrides := make(map[string]string, len(rr.Configs))
	for _, c := range rr.Configs {
		if c.Value == nil {
			return nullConfigError(c.Name)
		}
		overrides[c.Name] = *c.Value
	}
	if b.topics.get(rr.ResourceName) == nil {
		return newAPIError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", rr.ResourceName)
	}
	if _, err := checkTopicConfigs(b.cfg.DefaultLog, overrides); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := b.topics.setConfigs(rr.ResourceName, overrides); err != nil {
		return fmt.Errorf("cannot set configs of topic %q: %w", rr.ResourceName, err)
	}
	b.log.Info("topic configs replaced", "topic", rr.ResourceName, "configs", overrides)
	return nil
}

// alterBrokerError is the answer to changing broker configs: all are
// static. Kafka's wording, with its Scala Set rendering.
func (b *Broker) alterBrokerError(name string, configs []string) error {
	if name != "" {
		if err := b.checkBrokerName(name); err != nil {
			return err
		}
	}
	if len(configs) == 0 {
		return nil // nothing to change
	}
	return newAPIError(kerr.InvalidRequest,
		"Invalid config value for resource ConfigResource(type=BROKER, name='%s'): Cannot update these configs dynamically: Set(%s)",
		name, strings.Join(configs, ", "))
}
