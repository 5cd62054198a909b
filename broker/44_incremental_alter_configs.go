package broker

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/netio"
)

// IncrementalAlterConfigs: v0-1
//
// Behavior:
// * With an authorizer: BROKER and BROKER_LOGGER resources need ALTER_CONFIGS on
//   the cluster, else CLUSTER_AUTHORIZATION_FAILED; TOPIC resources need it on
//   the topic, else TOPIC_AUTHORIZATION_FAILED (per resource).
// * TOPIC resources: each config's Op applies to the topic's overrides:
//   SET (a null value is INVALID_CONFIG), DELETE (back to the broker's
//   default), APPEND and SUBTRACT on list configs (cleanup.policy), which
//   start from the current value (override or default), append only
//   missing items and remove every copy of subtracted ones; on a non-list
//   config INVALID_CONFIG. An unknown op or a key given twice:
//   INVALID_REQUEST; an unknown key: INVALID_CONFIG.
// * The result is validated as a whole (INVALID_CONFIG naming key and
//   value), persisted in topic-configs.json and applied to every
//   partition's live log; read, edit and write hold the topic registry's
//   write lock, so concurrent alters do not lose changes. Unknown topics:
//   UNKNOWN_TOPIC_OR_PARTITION.
// * BROKER resources (this node's id, or "" for the cluster-wide default):
//   the ops edit that level's dynamic broker configs (dynconfig.go: the
//   broker synonyms of topic configs), validated as a whole, persisted in
//   broker-configs.json and applied to every topic without a restart. A
//   static key: INVALID_REQUEST "Cannot update these configs dynamically",
//   as Kafka. Other resource types, and a resource named twice:
//   INVALID_REQUEST.
// * With a controller the result is a set of Config records through the
//   active controller, applied by every broker (configs_cluster.go).
// * ValidateOnly: every check, nothing changed.

func init() { register(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	key := func(i int) resourceKey {
		return resourceKey{req.Resources[i].ResourceType, req.Resources[i].ResourceName}
	}
	eachDistinct(len(req.Resources), key, func(i int, dup bool) {
		rr := &req.Resources[i]
		err := newAPIError(kerr.InvalidRequest, "Duplicate resource.")
		if !dup {
			if err = b.configDenied(r, rr.ResourceType, rr.ResourceName, &chkAlterCfgBroker, &chkAlterCfgTopic); err == nil {
				err = b.incrementalAlterResource(rr, req.ValidateOnly)
			}
		}
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.ErrorCode, sr.ErrorMessage = b.errorResult(err, "incremental alter configs")
		resp.Resources = append(resp.Resources, sr)
	})
	return r.respond(resp), nil
}

// incrementalAlterResource applies one resource's ops.
func (b *Broker) incrementalAlterResource(rr *kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	names := make([]string, 0, len(rr.Configs))
	for _, c := range rr.Configs {
		names = append(names, c.Name)
	}
	if dups := duplicates(len(names), func(i int) string { return names[i] }); len(dups) > 0 {
		return newAPIError(kerr.InvalidRequest, "Error due to duplicate config keys")
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		edit := func(overrides map[string]string) error {
			for _, c := range rr.Configs {
				if err := b.applyConfigOp(overrides, c); err != nil {
					return err
				}
			}
			return nil
		}
		if b.cl != nil {
			return b.alterConfigsCluster(metadata.ResourceTopic, rr.ResourceName, validateOnly, edit)
		}
		return b.topics.updateConfigs(rr.ResourceName, validateOnly, edit)
	case kmsg.ConfigResourceTypeBroker:
		if err := b.checkBrokerResource(rr.ResourceName, names); err != nil {
			return err
		}
		edit := func(m map[string]string) error {
			for _, c := range rr.Configs {
				if err := applyBrokerConfigOp(m, c); err != nil {
					return err
				}
			}
			return nil
		}
		if b.cl != nil {
			return b.alterConfigsCluster(metadata.ResourceBroker, rr.ResourceName, validateOnly, edit)
		}
		return b.topics.setDynamic(rr.ResourceName == "", validateOnly, edit)
	default:
		return newAPIError(kerr.InvalidRequest, "Unsupported resource type %d.", rr.ResourceType)
	}
}

// applyConfigOp applies one op to a topic's overrides.
func (b *Broker) applyConfigOp(overrides map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	def := lookupTopicConfigDef(c.Name)
	if def == nil {
		return newAPIError(kerr.InvalidConfig, "Unknown topic config name: %s", c.Name)
	}
	switch c.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if c.Value == nil {
			return nullConfigError(c.Name)
		}
		overrides[c.Name] = *c.Value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(overrides, c.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if def.typ != kmsg.ConfigTypeList {
			return newAPIError(kerr.InvalidConfig, "Config value %s is not allowed for config key: %s",
				strings.ToLower(c.Op.String()), c.Name)
		}
		current, ok := overrides[c.Name]
		if !ok {
			current = def.dflt
			if def.value != nil {
				current = def.value(b.topics.defaults.get())
			}
		}
		overrides[c.Name] = editList(current, c.Value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
	default:
		return newAPIError(kerr.InvalidRequest, "Unknown alter config operation %d for config key: %s", c.Op, c.Name)
	}
	return nil
}

// applyBrokerConfigOp applies one op to a level of dynamic broker configs.
func applyBrokerConfigOp(m map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	def := dynamicTopicSynonym(c.Name)
	switch c.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if c.Value == nil {
			return newAPIError(kerr.InvalidConfig, "Null value not supported for : %s", c.Name)
		}
		m[c.Name] = *c.Value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(m, c.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if def == nil || def.typ != kmsg.ConfigTypeList {
			return newAPIError(kerr.InvalidConfig, "Config value %s is not allowed for config key: %s",
				strings.ToLower(c.Op.String()), c.Name)
		}
		m[c.Name] = editList(m[c.Name], c.Value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
	default:
		return newAPIError(kerr.InvalidRequest, "Unknown alter config operation %d for config key: %s", c.Op, c.Name)
	}
	return nil
}

// editList appends the missing items of value to the comma-separated list
// current, or removes them from it.
func editList(current string, value *string, add bool) string {
	items := splitList(current)
	var change []string
	if value != nil {
		change = splitList(*value)
	}
	for _, v := range change {
		has := slices.Contains(items, v)
		switch {
		case add && !has:
			items = append(items, v)
		case !add && has:
			items = slices.DeleteFunc(items, func(s string) bool { return s == v })
		}
	}
	return strings.Join(items, ",")
}

// splitList splits a list config's value, trimming blanks; "" is empty.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
