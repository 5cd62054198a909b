package broker

import (
	"context"
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/netio"
)

// AlterConfigs: v0-2
//
// Behavior:
// * With an authorizer: BROKER and BROKER_LOGGER resources need ALTER_CONFIGS on
//   the cluster, else CLUSTER_AUTHORIZATION_FAILED; TOPIC resources need it on
//   the topic, else TOPIC_AUTHORIZATION_FAILED (per resource).
// * TOPIC resources: the configs given replace the topic's whole override
//   set (a config left out returns to the broker's default). Validated as
//   CreateTopics does (INVALID_CONFIG naming key and value; a null value
//   is INVALID_CONFIG, as in Kafka), then persisted in topic-configs.json
//   and applied to every partition's live log (partition.Log.SetConfig).
//   With a controller the result is a set of Config records through the
//   active controller, applied by every broker (configs_cluster.go).
//   Unknown topics: UNKNOWN_TOPIC_OR_PARTITION.
// * BROKER resources (this node's id, or "" for the cluster-wide default):
//   the configs given replace that level's dynamic broker configs
//   (dynconfig.go: the broker synonyms of topic configs, log.retention.ms,
//   log.segment.bytes, message.max.bytes, …), validated, persisted in
//   broker-configs.json and applied to every topic at once. A static key
//   is INVALID_REQUEST "Cannot update these configs dynamically: Set(…)",
//   as Kafka answers; another node id: INVALID_REQUEST.
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
			if err = b.configDenied(r, rr.ResourceType, rr.ResourceName, &chkAlterCfgBroker, &chkAlterCfgTopic); err == nil {
				err = b.alterResource(rr, req.ValidateOnly)
			}
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
		return b.replaceBrokerConfigs(rr, names, validateOnly)
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
	if b.cl != nil {
		return b.alterConfigsCluster(metadata.ResourceTopic, rr.ResourceName, validateOnly, func(m map[string]string) error {
			clear(m)
			maps.Copy(m, overrides)
			return nil
		})
	}
	if b.topics.get(rr.ResourceName) == nil {
		return newAPIError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", rr.ResourceName)
	}
	if _, err := checkTopicConfigs(b.topics.defaults.get(), overrides); err != nil {
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

// checkBrokerResource accepts this node's id or "" (the cluster-wide
// default), and only keys that can change dynamically.
func (b *Broker) checkBrokerResource(name string, keys []string) error {
	if name != "" && b.cl != nil {
		if err := b.checkClusterBrokerName(name); err != nil {
			return err
		}
	} else if name != "" {
		if err := b.checkBrokerName(name); err != nil {
			return err
		}
	}
	return checkDynamicKeys(name, keys)
}

// replaceBrokerConfigs replaces one level's dynamic broker configs with the
// ones given (a null value leaves the key out).
func (b *Broker) replaceBrokerConfigs(rr *kmsg.AlterConfigsRequestResource, names []string, validateOnly bool) error {
	if err := b.checkBrokerResource(rr.ResourceName, names); err != nil {
		return err
	}
	edit := func(m map[string]string) error {
		clear(m)
		for _, c := range rr.Configs {
			if c.Value != nil {
				m[c.Name] = *c.Value
			}
		}
		return nil
	}
	var err error
	if b.cl != nil {
		err = b.alterConfigsCluster(metadata.ResourceBroker, rr.ResourceName, validateOnly, edit)
	} else {
		err = b.topics.setDynamic(rr.ResourceName == "", validateOnly, edit)
	}
	if err == nil && !validateOnly {
		b.log.Info("broker configs replaced", "resource", rr.ResourceName, "configs", names)
	}
	return err
}
