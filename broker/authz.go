package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
)

// check is one authorization Kafka performs for an API (its documentation's
// "Operations and Resources on Protocols" table, and KafkaApis): the
// operation on a resource, the error the resource gets when it is denied,
// and an alternative that allows it too.
type check struct {
	resource acl.ResourceType
	op       acl.Operation
	err      *kerr.Error
	// anyName: the operation on any resource of the type will do (Kafka's
	// authorizeByResourceType), not on a named one.
	anyName bool
	or      *check // also allowed when this check passes (on kafka-cluster)
	when    string // which resources or requests it applies to
}

// The checks, one variable each so handlers name the row they enforce.
var (
	chkClusterCreate   = check{resource: acl.Cluster, op: acl.Create, err: kerr.ClusterAuthorizationFailed, when: "alternative"}
	chkClusterIdem     = check{resource: acl.Cluster, op: acl.IdempotentWrite, err: kerr.ClusterAuthorizationFailed, when: "alternative"}
	chkClusterDescribe = check{resource: acl.Cluster, op: acl.Describe, err: kerr.ClusterAuthorizationFailed, when: "alternative"}

	chkProduceTxn     = check{resource: acl.TransactionalID, op: acl.Write, err: kerr.TransactionalIDAuthorizationFailed, when: "transactional id set"}
	chkProduceTopic   = check{resource: acl.Topic, op: acl.Write, err: kerr.TopicAuthorizationFailed, when: "each topic"}
	chkFetchReplica   = check{resource: acl.Cluster, op: acl.ClusterAction, err: kerr.TopicAuthorizationFailed, when: "follower fetch (replica id ≥ 0), each partition"}
	chkFetchTopic     = check{resource: acl.Topic, op: acl.Read, err: kerr.TopicAuthorizationFailed, when: "consumer fetch, each topic"}
	chkListOffsets    = check{resource: acl.Topic, op: acl.Describe, err: kerr.TopicAuthorizationFailed, when: "each topic"}
	chkMetadataTopic  = check{resource: acl.Topic, op: acl.Describe, err: kerr.TopicAuthorizationFailed, when: "each topic named (all topics: filtered out)"}
	chkMetadataCreate = check{resource: acl.Topic, op: acl.Create, err: kerr.TopicAuthorizationFailed, or: &chkClusterCreate, when: "auto-creating a topic"}
	chkCommitGroup    = check{resource: acl.Group, op: acl.Read, err: kerr.GroupAuthorizationFailed, when: "the group"}
	chkCommitTopic    = check{resource: acl.Topic, op: acl.Read, err: kerr.TopicAuthorizationFailed, when: "each topic"}
	chkOffFetchGroup  = check{resource: acl.Group, op: acl.Describe, err: kerr.GroupAuthorizationFailed, when: "each group"}
	chkOffFetchTopic  = check{resource: acl.Topic, op: acl.Describe, err: kerr.TopicAuthorizationFailed, when: "each topic named (all topics: filtered out)"}
	chkFindGroup      = check{resource: acl.Group, op: acl.Describe, err: kerr.GroupAuthorizationFailed, when: "key type GROUP"}
	chkFindTxn        = check{resource: acl.TransactionalID, op: acl.Describe, err: kerr.TransactionalIDAuthorizationFailed, when: "key type TRANSACTION"}
	chkGroupRead      = check{resource: acl.Group, op: acl.Read, err: kerr.GroupAuthorizationFailed, when: "the group"}
	chkDescribeGroup  = check{resource: acl.Group, op: acl.Describe, err: kerr.GroupAuthorizationFailed, when: "each group"}
	chkListGroups     = check{resource: acl.Group, op: acl.Describe, err: nil, or: &chkClusterDescribe, when: "each group (others filtered out)"}
	chkCreateTopic    = check{resource: acl.Topic, op: acl.Create, err: kerr.TopicAuthorizationFailed, or: &chkClusterCreate, when: "each topic"}
	chkCreateTopicCfg = check{resource: acl.Topic, op: acl.DescribeConfigs, err: kerr.TopicAuthorizationFailed, when: "each topic's configs in the response (v5+ TopicConfigErrorCode)"}
	chkDeleteTopic    = check{resource: acl.Topic, op: acl.Delete, err: kerr.TopicAuthorizationFailed, when: "each existing topic"}
	chkDeleteTopicDsc = check{resource: acl.Topic, op: acl.Describe, err: kerr.TopicAuthorizationFailed, when: "each topic, before its existence is revealed"}
	chkDeleteRecords  = check{resource: acl.Topic, op: acl.Delete, err: kerr.TopicAuthorizationFailed, when: "each topic"}
	chkInitPIDTxn     = check{resource: acl.TransactionalID, op: acl.Write, err: kerr.TransactionalIDAuthorizationFailed, when: "transactional id set"}
	chkInitPIDIdem    = check{resource: acl.Topic, op: acl.Write, err: kerr.ClusterAuthorizationFailed, anyName: true, or: &chkClusterIdem, when: "no transactional id"}
	chkEpochTopic     = check{resource: acl.Topic, op: acl.Describe, err: kerr.TopicAuthorizationFailed, when: "consumer, each topic"}
	chkEpochReplica   = check{resource: acl.Cluster, op: acl.ClusterAction, err: kerr.ClusterAuthorizationFailed, when: "replica id ≥ 0, each partition"}
	chkDescribeACLs   = check{resource: acl.Cluster, op: acl.Describe, err: kerr.ClusterAuthorizationFailed, when: "always"}
	chkAlterACLs      = check{resource: acl.Cluster, op: acl.Alter, err: kerr.ClusterAuthorizationFailed, when: "always"}
	chkDescCfgBroker  = check{resource: acl.Cluster, op: acl.DescribeConfigs, err: kerr.ClusterAuthorizationFailed, when: "BROKER and BROKER_LOGGER resources"}
	chkDescCfgTopic   = check{resource: acl.Topic, op: acl.DescribeConfigs, err: kerr.TopicAuthorizationFailed, when: "TOPIC resources"}
	chkAlterCfgBroker = check{resource: acl.Cluster, op: acl.AlterConfigs, err: kerr.ClusterAuthorizationFailed, when: "BROKER and BROKER_LOGGER resources"}
	chkAlterCfgTopic  = check{resource: acl.Topic, op: acl.AlterConfigs, err: kerr.TopicAuthorizationFailed, when: "TOPIC resources"}
	chkLogDirs        = check{resource: acl.Cluster, op: acl.Describe, err: kerr.ClusterAuthorizationFailed, when: "always"}
	chkDescScram      = check{resource: acl.Cluster, op: acl.Describe, err: kerr.ClusterAuthorizationFailed, when: "always"}
	chkAlterScram     = check{resource: acl.Cluster, op: acl.Alter, err: kerr.ClusterAuthorizationFailed, when: "each user"}
	chkBrokerAction   = check{resource: acl.Cluster, op: acl.ClusterAction, err: kerr.ClusterAuthorizationFailed, when: "always (brokers: super.users)"}
	chkDescQuorum     = check{resource: acl.Cluster, op: acl.Describe, err: kerr.ClusterAuthorizationFailed, when: "always"}
	chkUnregister     = check{resource: acl.Cluster, op: acl.Alter, err: kerr.ClusterAuthorizationFailed, when: "always"}
	chkAlterQuorum    = check{resource: acl.Cluster, op: acl.Alter, err: kerr.ClusterAuthorizationFailed, when: "always"}
	chkElectLeaders   = check{resource: acl.Cluster, op: acl.Alter, err: kerr.ClusterAuthorizationFailed, when: "always (every partition named, and the top v1+)"}
	chkReassign       = check{resource: acl.Cluster, op: acl.Alter, err: kerr.ClusterAuthorizationFailed, when: "always (every partition)"}
	chkListReassign   = check{resource: acl.Cluster, op: acl.Describe, err: kerr.ClusterAuthorizationFailed, when: "always"}
	chkCreateParts    = check{resource: acl.Topic, op: acl.Alter, err: kerr.TopicAuthorizationFailed, when: "each topic"}
	chkDeleteGroups   = check{resource: acl.Group, op: acl.Delete, err: kerr.GroupAuthorizationFailed, when: "each group"}
	chkOffDelGroup    = check{resource: acl.Group, op: acl.Delete, err: kerr.GroupAuthorizationFailed, when: "the group"}
	chkOffDelTopic    = check{resource: acl.Topic, op: acl.Read, err: kerr.TopicAuthorizationFailed, when: "each topic"}

	chkAddPartsTxn     = check{resource: acl.TransactionalID, op: acl.Write, err: kerr.TransactionalIDAuthorizationFailed, when: "v0-3 (clients): the transactional id"}
	chkAddPartsTopic   = check{resource: acl.Topic, op: acl.Write, err: kerr.TopicAuthorizationFailed, when: "v0-3: each topic (the other partitions: OPERATION_NOT_ATTEMPTED)"}
	chkAddPartsCluster = check{resource: acl.Cluster, op: acl.ClusterAction, err: kerr.ClusterAuthorizationFailed, when: "v4+ (broker to broker): the whole request"}
	chkAddOffsetsTxn   = check{resource: acl.TransactionalID, op: acl.Write, err: kerr.TransactionalIDAuthorizationFailed, when: "the transactional id"}
	chkAddOffsetsGroup = check{resource: acl.Group, op: acl.Read, err: kerr.GroupAuthorizationFailed, when: "the group"}
	chkEndTxn          = check{resource: acl.TransactionalID, op: acl.Write, err: kerr.TransactionalIDAuthorizationFailed, when: "the transactional id"}
	chkWriteMarkers    = check{resource: acl.Cluster, op: acl.ClusterAction, err: kerr.ClusterAuthorizationFailed, when: "always (every partition)"}
	chkTxnCommitTxn    = check{resource: acl.TransactionalID, op: acl.Write, err: kerr.TransactionalIDAuthorizationFailed, when: "the transactional id (every partition)"}
	chkTxnCommitGroup  = check{resource: acl.Group, op: acl.Read, err: kerr.GroupAuthorizationFailed, when: "the group (every partition)"}
	chkTxnCommitTopic  = check{resource: acl.Topic, op: acl.Read, err: kerr.TopicAuthorizationFailed, when: "each topic"}
	chkDescProducers   = check{resource: acl.Topic, op: acl.Read, err: kerr.TopicAuthorizationFailed, when: "each partition"}
	chkDescTxn         = check{resource: acl.TransactionalID, op: acl.Describe, err: kerr.TransactionalIDAuthorizationFailed, when: "each transactional id"}
	chkDescTxnTopic    = check{resource: acl.Topic, op: acl.Describe, err: nil, when: "each topic of a transaction (others filtered out; __consumer_offsets kept)"}
	chkDescTopicParts  = check{resource: acl.Topic, op: acl.Describe, err: kerr.TopicAuthorizationFailed, when: "each topic named (all topics: filtered out)"}
	chkListTxn         = check{resource: acl.TransactionalID, op: acl.Describe, err: nil, when: "each transactional id (others filtered out)"}
)

// apiChecks is the table: every served API key and the checks its
// handler makes. An API with none (ApiVersions, the SASL APIs,
// DescribeCluster) maps to an empty list. The ACL matrix test is generated
// from it and fails for a served key missing here.
var apiChecks = map[int16][]*check{
	produceKey: {&chkProduceTxn, &chkProduceTopic},
	1:          {&chkFetchReplica, &chkFetchTopic},
	2:          {&chkListOffsets},
	3:          {&chkMetadataTopic, &chkMetadataCreate},
	8:          {&chkCommitGroup, &chkCommitTopic},
	9:          {&chkOffFetchGroup, &chkOffFetchTopic},
	10:         {&chkFindGroup, &chkFindTxn},
	11:         {&chkGroupRead}, // JoinGroup
	12:         {&chkGroupRead}, // Heartbeat
	13:         {&chkGroupRead}, // LeaveGroup
	14:         {&chkGroupRead}, // SyncGroup
	15:         {&chkDescribeGroup},
	16:         {&chkListGroups},
	17:         {}, // SaslHandshake
	18:         {}, // ApiVersions
	19:         {&chkCreateTopic, &chkCreateTopicCfg},
	20:         {&chkDeleteTopicDsc, &chkDeleteTopic},
	21:         {&chkDeleteRecords},
	22:         {&chkInitPIDTxn, &chkInitPIDIdem},
	23:         {&chkEpochReplica, &chkEpochTopic},
	24:         {&chkAddPartsTxn, &chkAddPartsTopic, &chkAddPartsCluster},
	25:         {&chkAddOffsetsTxn, &chkAddOffsetsGroup},
	26:         {&chkEndTxn},
	27:         {&chkWriteMarkers},
	28:         {&chkTxnCommitTxn, &chkTxnCommitGroup, &chkTxnCommitTopic},
	29:         {&chkDescribeACLs},
	30:         {&chkAlterACLs},
	31:         {&chkAlterACLs},
	32:         {&chkDescCfgBroker, &chkDescCfgTopic},
	33:         {&chkAlterCfgBroker, &chkAlterCfgTopic},
	35:         {&chkLogDirs},
	36:         {}, // SaslAuthenticate
	37:         {&chkCreateParts},
	42:         {&chkDeleteGroups},
	43:         {&chkElectLeaders},
	45:         {&chkReassign},
	46:         {&chkListReassign},
	44:         {&chkAlterCfgBroker, &chkAlterCfgTopic},
	47:         {&chkOffDelGroup, &chkOffDelTopic},
	50:         {&chkDescScram},
	51:         {&chkAlterScram},
	55:         {&chkDescQuorum},
	60:         {}, // DescribeCluster: DESCRIBE on the cluster only fills authorized operations
	61:         {&chkDescProducers},
	64:         {&chkUnregister},
	75:         {&chkDescTopicParts},
	80:         {&chkAlterQuorum},
	// BrokerRegistration, BrokerHeartbeat and AllocateProducerIds (67)
	// come from the other brokers of the cluster on the inter-broker
	// listener (peer.go), as Kafka's controller checks them:
	// CLUSTER_ACTION, which brokers have as super.users.
	56: {&chkBrokerAction}, // AlterPartition, from partition leaders
	62: {&chkBrokerAction},
	63: {&chkBrokerAction},
	65: {&chkDescTxn, &chkDescTxnTopic},
	66: {&chkListTxn},
	67: {&chkBrokerAction},
}

// authzOn reports whether an authorizer is configured.
func (b *Broker) authzOn() bool { return b.acls.auth != nil }

// allowed reports whether the request's principal passes c on the resource
// named name (ignored for the cluster and for anyName checks). Without an
// authorizer everything is allowed, as in Kafka.
func (b *Broker) allowed(r *request, c *check, name string) bool {
	az := b.acls.auth
	if az == nil {
		return true
	}
	if !r.identified {
		r.principal, r.host = b.principalOf(r.conn)
		r.identified = true
	}
	if st, _ := r.conn.State().(*connState); st != nil && st.internal {
		return true
	}
	if !b.securityReady(az, r.principal, !r.authzWaited) {
		r.authzWaited = true
		return false
	}
	var ok bool
	switch {
	case c.anyName:
		ok = az.AuthorizeAny(r.principal, r.host, c.resource, c.op)
	case c.resource == acl.Cluster:
		ok = az.Authorize(r.principal, r.host, acl.Cluster, acl.ClusterName, c.op)
	default:
		ok = az.Authorize(r.principal, r.host, c.resource, name, c.op)
	}
	if !ok && c.or != nil {
		return b.allowed(r, c.or, name)
	}
	return ok
}

// denied returns c's error code when the principal fails it, else 0.
func (b *Broker) denied(r *request, c *check, name string) int16 {
	if b.allowed(r, c, name) {
		return 0
	}
	return c.err.Code
}

// configDenied is the error a config resource gets when the principal
// lacks brokerCheck (BROKER and BROKER_LOGGER resources: the cluster) or
// topicCheck (TOPIC resources); nil when allowed or another type.
func (b *Broker) configDenied(r *request, typ kmsg.ConfigResourceType, name string, brokerCheck, topicCheck *check) error {
	c := topicCheck
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		c = brokerCheck
	default:
		return nil
	}
	if b.allowed(r, c, name) {
		return nil
	}
	return newAPIError(c.err, "%s", c.err.Message)
}

// supportedOps are the operations Kafka reports in authorized-operations
// fields, per resource type (AclEntry.supportedOperations).
var supportedOps = map[acl.ResourceType][]acl.Operation{
	acl.Topic: {acl.Read, acl.Write, acl.Create, acl.Describe, acl.Delete, acl.Alter, acl.DescribeConfigs, acl.AlterConfigs},
	acl.Group: {acl.Read, acl.Describe, acl.Delete},
	acl.Cluster: {acl.Create, acl.ClusterAction, acl.DescribeConfigs, acl.AlterConfigs, acl.IdempotentWrite,
		acl.Alter, acl.Describe},
}

// authorizedOps is the bit field (1 << operation code) of the supported
// operations the principal may perform on a resource, as Kafka fills
// authorized-operations fields; without an authorizer, all of them.
func (b *Broker) authorizedOps(r *request, rt acl.ResourceType, name string) int32 {
	var bits int32
	for _, op := range supportedOps[rt] {
		if b.allowed(r, &check{resource: rt, op: op}, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// clusterAuthorizedOps is what DescribeCluster and Metadata v8-10 answer
// when asked: 0 without DESCRIBE on the cluster, else authorizedOps.
func (b *Broker) clusterAuthorizedOps(r *request) int32 {
	if !b.allowed(r, &chkClusterDescribe, "") {
		return 0
	}
	return b.authorizedOps(r, acl.Cluster, acl.ClusterName)
}
