package broker

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
)

// The ACL matrix: for every API in apiChecks and every check it lists, one
// request that the check governs is sent over a real socket by a principal
// granted what the request needs (generated from the checks: PREFIXED "m"
// for named resources, kafka-cluster for the cluster) and again without
// the check's own grant. The first must not get the check's error (and
// gets ok when it is set), the second must get it.

const (
	mxPrincipal = "User:matrix"
	mxTopic     = "m-topic"
	mxGroup     = "m-group"
	mxTxn       = "m-txn"
	okAny       = int16(-100) // success is any code but the check's error
	filtered    = int16(-200) // the resource was left out of a listing
)

type mxCase struct {
	key   int16
	name  string
	test  *check   // the row under test
	needs []*check // every row the request passes through (test included)
	req   func(e *mxEnv) kmsg.Request
	code  func(kmsg.Response) int16 // the code the row's error lands in
	ok    int16
}

// mxEnv is what request builders may use.
type mxEnv struct {
	t     *testing.T
	as    *authServer
	admin *rawConn
	seq   int
	// mxTxn's producer, initialized by the admin.
	pid   int64
	epoch int16
}

// begin makes sure mxTxn has an ongoing transaction holding mxTopic-0,
// added by the admin.
func (e *mxEnv) begin() {
	e.t.Helper()
	r := e.admin.roundTrip(mxAddParts(e)).(*kmsg.AddPartitionsToTxnResponse)
	if c := r.Topics[0].Partitions[0].ErrorCode; c != 0 {
		e.t.Fatalf("AddPartitionsToTxn as admin: %d", c)
	}
}

func (e *mxEnv) fresh(prefix string) string { e.seq++; return fmt.Sprintf("%s-%d", prefix, e.seq) }

// grant is the binding that passes c for the matrix's resources.
func grant(c *check, principal string) acl.Binding {
	b := acl.Binding{ResourceType: c.resource, ResourceName: "m", PatternType: acl.Prefixed,
		Principal: principal, Host: "*", Operation: c.op, Permission: acl.Allow}
	if c.resource == acl.Cluster {
		b.ResourceName, b.PatternType = acl.ClusterName, acl.Literal
	}
	return b
}

// setACLs replaces every ACL of the broker, through the same write path as
// CreateAcls.
func (as *authServer) setACLs(t *testing.T, bs []acl.Binding) {
	t.Helper()
	a := as.Broker().acls
	a.mu.Lock()
	defer a.mu.Unlock()
	recs := make([]aclRecord, len(bs))
	for i, b := range bs {
		recs[i] = aclRecord{ID: newACLID(), Binding: b}
	}
	if err := a.commitLocked(recs); err != nil {
		t.Fatal(err)
	}
}

func mxBatch() []byte { return makeBatch(batchOpts{}, []byte("v")) }

func mxCases() []mxCase {
	return []mxCase{
		{key: 0, name: "produce", test: &chkProduceTopic, needs: []*check{&chkProduceTopic}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return produceReq(9, 1, mxTopic, 0, mxBatch()) },
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 0, name: "produce-transactional", test: &chkProduceTxn, needs: []*check{&chkProduceTxn, &chkProduceTopic}, ok: kerr.InvalidTxnState.Code,
			req: func(e *mxEnv) kmsg.Request {
				r := produceReq(9, 1, mxTopic, 0, makeBatch(batchOpts{producerID: e.pid, producerEpoch: e.epoch, transactional: true}, []byte("v")))
				id := mxTxn
				r.TransactionID = &id
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 1, name: "fetch", test: &chkFetchTopic, needs: []*check{&chkFetchTopic}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxFetch(-1) }, code: mxFetchCode},
		{key: 1, name: "fetch-follower", test: &chkFetchReplica, needs: []*check{&chkFetchReplica}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxFetch(1) }, code: mxFetchCode},
		{key: 2, name: "list-offsets", test: &chkListOffsets, needs: []*check{&chkListOffsets}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := pipeListLatest(mxTopic)
				r.Version = 5
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 3, name: "metadata", test: &chkMetadataTopic, needs: []*check{&chkMetadataTopic}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxMetadata(mxTopic) }, code: mxMetadataCode},
		{key: 3, name: "metadata-auto-create", test: &chkMetadataCreate, needs: []*check{&chkMetadataTopic, &chkMetadataCreate}, ok: 0,
			req: func(e *mxEnv) kmsg.Request { return mxMetadata(e.fresh("m-auto")) }, code: mxMetadataCode},
		{key: 8, name: "offset-commit-group", test: &chkCommitGroup, needs: []*check{&chkCommitGroup, &chkCommitTopic}, ok: 0,
			req: mxCommit, code: mxCommitCode},
		{key: 8, name: "offset-commit-topic", test: &chkCommitTopic, needs: []*check{&chkCommitGroup, &chkCommitTopic}, ok: 0,
			req: mxCommit, code: mxCommitCode},
		{key: 9, name: "offset-fetch-group", test: &chkOffFetchGroup, needs: []*check{&chkOffFetchGroup, &chkOffFetchTopic}, ok: 0,
			req: mxOffsetFetch, code: func(r kmsg.Response) int16 { return r.(*kmsg.OffsetFetchResponse).ErrorCode }},
		{key: 9, name: "offset-fetch-topic", test: &chkOffFetchTopic, needs: []*check{&chkOffFetchGroup, &chkOffFetchTopic}, ok: 0,
			req: mxOffsetFetch, code: func(r kmsg.Response) int16 {
				return r.(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 10, name: "find-group-coordinator", test: &chkFindGroup, needs: []*check{&chkFindGroup}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxFind(0, mxGroup) }, code: mxFindCode},
		{key: 10, name: "find-txn-coordinator", test: &chkFindTxn, needs: []*check{&chkFindTxn}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxFind(1, mxTxn) }, code: mxFindCode},
		{key: 11, name: "join-group", test: &chkGroupRead, needs: []*check{&chkGroupRead}, ok: kerr.MemberIDRequired.Code,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrJoinGroupRequest()
				r.Version, r.Group, r.ProtocolType = 5, mxGroup, "consumer"
				r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 10000
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name, p.Metadata = "range", []byte{0}
				r.Protocols = append(r.Protocols, p)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }},
		{key: 12, name: "heartbeat", test: &chkGroupRead, needs: []*check{&chkGroupRead}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrHeartbeatRequest()
				r.Version, r.Group, r.MemberID, r.Generation = 3, mxGroup, "nobody", 1
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }},
		{key: 13, name: "leave-group", test: &chkGroupRead, needs: []*check{&chkGroupRead}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrLeaveGroupRequest()
				r.Version, r.Group, r.MemberID = 2, mxGroup, "nobody"
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.LeaveGroupResponse).ErrorCode }},
		{key: 14, name: "sync-group", test: &chkGroupRead, needs: []*check{&chkGroupRead}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrSyncGroupRequest()
				r.Version, r.Group, r.MemberID, r.Generation = 3, mxGroup, "nobody", 1
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }},
		{key: 15, name: "describe-groups", test: &chkDescribeGroup, needs: []*check{&chkDescribeGroup}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrDescribeGroupsRequest()
				r.Version, r.Groups = 4, []string{mxGroup}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode }},
		{key: 16, name: "list-groups", test: &chkListGroups, needs: []*check{&chkListGroups}, ok: 0,
			req: func(*mxEnv) kmsg.Request { r := kmsg.NewPtrListGroupsRequest(); r.Version = 4; return r },
			code: func(r kmsg.Response) int16 {
				for _, g := range r.(*kmsg.ListGroupsResponse).Groups {
					if g.Group == mxGroup {
						return 0
					}
				}
				return filtered
			}},
		{key: 19, name: "create-topics", test: &chkCreateTopic, needs: []*check{&chkCreateTopic}, ok: 0,
			req:  func(e *mxEnv) kmsg.Request { return mxCreateTopic(e.fresh("m-new")) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }},
		{key: 19, name: "create-topics-configs", test: &chkCreateTopicCfg, needs: []*check{&chkCreateTopic, &chkCreateTopicCfg}, ok: 0,
			req: func(e *mxEnv) kmsg.Request {
				r := mxCreateTopic(e.fresh("m-new"))
				r.Version = 5
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ConfigErrorCode }},
		{key: 20, name: "delete-topics", test: &chkDeleteTopic, needs: []*check{&chkDeleteTopic}, ok: 0,
			req: func(e *mxEnv) kmsg.Request {
				name := e.fresh("m-del")
				if c := e.admin.roundTrip(mxCreateTopic(name)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
					e.t.Fatalf("create %s: %d", name, c)
				}
				r := kmsg.NewPtrDeleteTopicsRequest()
				r.Version, r.TopicNames, r.TimeoutMillis = 4, []string{name}, 10000
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }},
		{key: 20, name: "delete-topics-missing", test: &chkDeleteTopicDsc, needs: []*check{&chkDeleteTopicDsc}, ok: kerr.UnknownTopicOrPartition.Code,
			req: func(e *mxEnv) kmsg.Request {
				r := kmsg.NewPtrDeleteTopicsRequest()
				r.Version, r.TopicNames, r.TimeoutMillis = 4, []string{e.fresh("m-none")}, 10000
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }},
		{key: 21, name: "delete-records", test: &chkDeleteRecords, needs: []*check{&chkDeleteRecords}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrDeleteRecordsRequest()
				r.Version, r.TimeoutMillis = 1, 10000
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = mxTopic
				rp := kmsg.NewDeleteRecordsRequestTopicPartition()
				rp.Offset = 0
				rt.Partitions = append(rt.Partitions, rp)
				r.Topics = append(r.Topics, rt)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode }},
		{key: 22, name: "init-producer-id", test: &chkInitPIDIdem, needs: []*check{&chkInitPIDIdem}, ok: 0,
			req:  func(*mxEnv) kmsg.Request { return mxInitPID(nil) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }},
		{key: 22, name: "init-producer-id-transactional", test: &chkInitPIDTxn, needs: []*check{&chkInitPIDTxn}, ok: 0,
			req:  func(e *mxEnv) kmsg.Request { id := e.fresh("m-txn-init"); return mxInitPID(&id) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }},
		{key: 23, name: "offset-for-leader-epoch", test: &chkEpochTopic, needs: []*check{&chkEpochTopic}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxEpoch(-1) }, code: mxEpochCode},
		{key: 23, name: "offset-for-leader-epoch-replica", test: &chkEpochReplica, needs: []*check{&chkEpochReplica}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxEpoch(1) }, code: mxEpochCode},
		{key: 24, name: "add-partitions-to-txn-id", test: &chkAddPartsTxn, needs: []*check{&chkAddPartsTxn, &chkAddPartsTopic}, ok: 0,
			req: func(e *mxEnv) kmsg.Request { return mxAddParts(e) }, code: mxAddPartsCode},
		{key: 24, name: "add-partitions-to-txn-topic", test: &chkAddPartsTopic, needs: []*check{&chkAddPartsTxn, &chkAddPartsTopic}, ok: 0,
			req: func(e *mxEnv) kmsg.Request { return mxAddParts(e) }, code: mxAddPartsCode},
		{key: 24, name: "add-partitions-to-txn-broker", test: &chkAddPartsCluster, needs: []*check{&chkAddPartsCluster}, ok: 0,
			req: func(e *mxEnv) kmsg.Request {
				e.begin()
				r := kmsg.NewPtrAddPartitionsToTxnRequest()
				r.Version = 4
				tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
				tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = mxTxn, e.pid, e.epoch, true
				rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
				rt.Topic, rt.Partitions = mxTopic, []int32{0}
				tx.Topics = append(tx.Topics, rt)
				r.Transactions = append(r.Transactions, tx)
				return r
			},
			code: func(r kmsg.Response) int16 {
				rs := r.(*kmsg.AddPartitionsToTxnResponse)
				if rs.ErrorCode != 0 {
					return rs.ErrorCode
				}
				return rs.Transactions[0].Topics[0].Partitions[0].ErrorCode
			}},
		{key: 25, name: "add-offsets-to-txn-id", test: &chkAddOffsetsTxn, needs: []*check{&chkAddOffsetsTxn, &chkAddOffsetsGroup}, ok: 0,
			req: mxAddOffsets, code: func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode }},
		{key: 25, name: "add-offsets-to-txn-group", test: &chkAddOffsetsGroup, needs: []*check{&chkAddOffsetsTxn, &chkAddOffsetsGroup}, ok: 0,
			req: mxAddOffsets, code: func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode }},
		{key: 28, name: "txn-offset-commit-id", test: &chkTxnCommitTxn, needs: []*check{&chkTxnCommitTxn, &chkTxnCommitGroup, &chkTxnCommitTopic}, ok: 0,
			req: mxTxnCommit, code: mxTxnCommitCode},
		{key: 28, name: "txn-offset-commit-group", test: &chkTxnCommitGroup, needs: []*check{&chkTxnCommitTxn, &chkTxnCommitGroup, &chkTxnCommitTopic}, ok: 0,
			req: mxTxnCommit, code: mxTxnCommitCode},
		{key: 28, name: "txn-offset-commit-topic", test: &chkTxnCommitTopic, needs: []*check{&chkTxnCommitTxn, &chkTxnCommitGroup, &chkTxnCommitTopic}, ok: 0,
			req: mxTxnCommit, code: mxTxnCommitCode},
		{key: 26, name: "end-txn", test: &chkEndTxn, needs: []*check{&chkEndTxn}, ok: 0,
			req: func(e *mxEnv) kmsg.Request {
				e.begin()
				r := kmsg.NewPtrEndTxnRequest()
				r.Version = 3
				r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = mxTxn, e.pid, e.epoch, true
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.EndTxnResponse).ErrorCode }},
		{key: 27, name: "write-txn-markers", test: &chkWriteMarkers, needs: []*check{&chkWriteMarkers}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrWriteTxnMarkersRequest()
				r.Version = 1
				m := kmsg.NewWriteTxnMarkersRequestMarker()
				m.ProducerID, m.ProducerEpoch, m.Committed = 1<<40, 0, false // a producer no case uses
				mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
				mt.Topic, mt.Partitions = mxTopic, []int32{0}
				m.Topics = append(m.Topics, mt)
				r.Markers = append(r.Markers, m)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
			}},
		{key: 75, name: "describe-topic-partitions", test: &chkDescTopicParts, needs: []*check{&chkDescTopicParts}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrDescribeTopicPartitionsRequest()
				rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
				rt.Topic = mxTopic
				r.Topics = append(r.Topics, rt)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeTopicPartitionsResponse).Topics[0].ErrorCode }},
		{key: 61, name: "describe-producers", test: &chkDescProducers, needs: []*check{&chkDescProducers}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrDescribeProducersRequest()
				rt := kmsg.NewDescribeProducersRequestTopic()
				rt.Topic, rt.Partitions = mxTopic, []int32{0}
				r.Topics = append(r.Topics, rt)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 65, name: "describe-transactions", test: &chkDescTxn, needs: []*check{&chkDescTxn}, ok: 0,
			req: mxDescribeTxn, code: func(r kmsg.Response) int16 {
				return r.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode
			}},
		{key: 65, name: "describe-transactions-topics", test: &chkDescTxnTopic, needs: []*check{&chkDescTxn, &chkDescTxnTopic}, ok: 0,
			req: func(e *mxEnv) kmsg.Request { e.begin(); return mxDescribeTxn(e) },
			code: func(r kmsg.Response) int16 {
				st := r.(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
				if st.ErrorCode != 0 {
					return st.ErrorCode
				}
				for _, t := range st.Topics {
					if t.Topic == mxTopic {
						return 0
					}
				}
				return filtered
			}},
		{key: 66, name: "list-transactions", test: &chkListTxn, needs: []*check{&chkListTxn}, ok: 0,
			req: func(*mxEnv) kmsg.Request { r := kmsg.NewPtrListTransactionsRequest(); r.Version = 1; return r },
			code: func(r kmsg.Response) int16 {
				rs := r.(*kmsg.ListTransactionsResponse)
				if rs.ErrorCode != 0 {
					return rs.ErrorCode
				}
				for _, st := range rs.TransactionStates {
					if st.TransactionalID == mxTxn {
						return 0
					}
				}
				return filtered
			}},
		{key: 29, name: "describe-acls", test: &chkDescribeACLs, needs: []*check{&chkDescribeACLs}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrDescribeACLsRequest()
				r.Version = 2
				r.ResourceType, r.ResourcePatternType, r.Operation, r.PermissionType = 1, 1, 1, 1
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeACLsResponse).ErrorCode }},
		{key: 30, name: "create-acls", test: &chkAlterACLs, needs: []*check{&chkAlterACLs}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrCreateACLsRequest()
				r.Version = 2
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName, c.ResourcePatternType = 2, "zz", 3
				c.Principal, c.Host, c.Operation, c.PermissionType = "User:zz", "*", 3, 3
				r.Creations = append(r.Creations, c)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode }},
		{key: 31, name: "delete-acls", test: &chkAlterACLs, needs: []*check{&chkAlterACLs}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrDeleteACLsRequest()
				r.Version = 2
				f := kmsg.NewDeleteACLsRequestFilter()
				name := "zz"
				f.ResourceType, f.ResourceName, f.ResourcePatternType, f.Operation, f.PermissionType = 2, &name, 3, 1, 1
				r.Filters = append(r.Filters, f)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteACLsResponse).Results[0].ErrorCode }},
		{key: 32, name: "describe-configs-broker", test: &chkDescCfgBroker, needs: []*check{&chkDescCfgBroker}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxDescribeConfigs(kmsg.ConfigResourceTypeBroker, "1") }, code: mxDescribeConfigsCode},
		{key: 32, name: "describe-configs-topic", test: &chkDescCfgTopic, needs: []*check{&chkDescCfgTopic}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxDescribeConfigs(kmsg.ConfigResourceTypeTopic, mxTopic) }, code: mxDescribeConfigsCode},
		{key: 33, name: "alter-configs-broker", test: &chkAlterCfgBroker, needs: []*check{&chkAlterCfgBroker}, ok: okAny,
			req: func(*mxEnv) kmsg.Request { return mxAlterConfigs(kmsg.ConfigResourceTypeBroker, "1") }, code: mxAlterConfigsCode},
		{key: 33, name: "alter-configs-topic", test: &chkAlterCfgTopic, needs: []*check{&chkAlterCfgTopic}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxAlterConfigs(kmsg.ConfigResourceTypeTopic, mxTopic) }, code: mxAlterConfigsCode},
		{key: 35, name: "describe-log-dirs", test: &chkLogDirs, needs: []*check{&chkLogDirs}, ok: 0,
			req:  func(*mxEnv) kmsg.Request { r := kmsg.NewPtrDescribeLogDirsRequest(); r.Version = 3; return r },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeLogDirsResponse).ErrorCode }},
		{key: 43, name: "elect-leaders", test: &chkElectLeaders, needs: []*check{&chkElectLeaders}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrElectLeadersRequest()
				r.Version = 2
				t := kmsg.NewElectLeadersRequestTopic()
				t.Topic, t.Partitions = mxTopic, []int32{0}
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ElectLeadersResponse).ErrorCode }},
		{key: 50, name: "describe-user-scram-credentials", test: &chkDescScram, needs: []*check{&chkDescScram}, ok: 0,
			req:  func(*mxEnv) kmsg.Request { return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode }},
		{key: 51, name: "alter-user-scram-credentials", test: &chkAlterScram, needs: []*check{&chkAlterScram}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
				u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
				u.Name, u.Mechanism, u.Iterations = "mx-user", 2, 8192
				u.Salt, u.SaltedPassword = []byte("0123456789abcdef"), make([]byte, 64)
				r.Upsertions = append(r.Upsertions, u)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode }},
		{key: 62, name: "broker-registration", test: &chkBrokerAction, needs: []*check{&chkBrokerAction}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrBrokerRegistrationRequest()
				r.BrokerID = 7
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.BrokerRegistrationResponse).ErrorCode }},
		{key: 63, name: "broker-heartbeat", test: &chkBrokerAction, needs: []*check{&chkBrokerAction}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrBrokerHeartbeatRequest()
				r.BrokerID = 7
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.BrokerHeartbeatResponse).ErrorCode }},
		{key: 67, name: "allocate-producer-ids", test: &chkBrokerAction, needs: []*check{&chkBrokerAction}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrAllocateProducerIDsRequest()
				r.BrokerID = 7
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AllocateProducerIDsResponse).ErrorCode }},
		{key: 56, name: "alter-partition", test: &chkBrokerAction, needs: []*check{&chkBrokerAction}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrAlterPartitionRequest()
				r.BrokerID = 7
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterPartitionResponse).ErrorCode }},
		{key: 80, name: "add-raft-voter", test: &chkAlterQuorum, needs: []*check{&chkAlterQuorum}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrAddRaftVoterRequest()
				r.VoterID = 99
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AddRaftVoterResponse).ErrorCode }},
		{key: 64, name: "unregister-broker", test: &chkUnregister, needs: []*check{&chkUnregister}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrUnregisterBrokerRequest()
				r.BrokerID = 99
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.UnregisterBrokerResponse).ErrorCode }},
		{key: 55, name: "describe-quorum", test: &chkDescQuorum, needs: []*check{&chkDescQuorum}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrDescribeQuorumRequest()
				t := kmsg.NewDescribeQuorumRequestTopic()
				t.Topic = "__cluster_metadata"
				t.Partitions = append(t.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
				r.Topics = append(r.Topics, t)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeQuorumResponse).ErrorCode }},
		{key: 37, name: "create-partitions", test: &chkCreateParts, needs: []*check{&chkCreateParts}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrCreatePartitionsRequest()
				r.Version, r.ValidateOnly, r.TimeoutMillis = 2, true, 10000
				rt := kmsg.NewCreatePartitionsRequestTopic()
				rt.Topic, rt.Count = mxTopic, 2
				r.Topics = append(r.Topics, rt)
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode }},
		{key: 45, name: "alter-partition-reassignments", test: &chkReassign, needs: []*check{&chkReassign}, ok: 0,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
				rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
				rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
				rp.Replicas = []int32{1}
				rt.Topic, rt.Partitions = mxTopic, append(rt.Partitions, rp)
				r.Topics = append(r.Topics, rt)
				return r
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.AlterPartitionAssignmentsResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{key: 46, name: "list-partition-reassignments", test: &chkListReassign, needs: []*check{&chkListReassign}, ok: 0,
			req:  func(*mxEnv) kmsg.Request { return kmsg.NewPtrListPartitionReassignmentsRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode }},
		{key: 42, name: "delete-groups", test: &chkDeleteGroups, needs: []*check{&chkDeleteGroups}, ok: okAny,
			req: func(*mxEnv) kmsg.Request {
				r := kmsg.NewPtrDeleteGroupsRequest()
				r.Version, r.Groups = 2, []string{"m-gone"}
				return r
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode }},
		{key: 44, name: "incremental-alter-configs-broker", test: &chkAlterCfgBroker, needs: []*check{&chkAlterCfgBroker}, ok: okAny,
			req: func(*mxEnv) kmsg.Request { return mxIncAlter(kmsg.ConfigResourceTypeBroker, "1") }, code: mxIncAlterCode},
		{key: 44, name: "incremental-alter-configs-topic", test: &chkAlterCfgTopic, needs: []*check{&chkAlterCfgTopic}, ok: 0,
			req: func(*mxEnv) kmsg.Request { return mxIncAlter(kmsg.ConfigResourceTypeTopic, mxTopic) }, code: mxIncAlterCode},
		{key: 47, name: "offset-delete-group", test: &chkOffDelGroup, needs: []*check{&chkOffDelGroup, &chkOffDelTopic}, ok: 0,
			req: mxOffsetDelete, code: func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode }},
		{key: 47, name: "offset-delete-topic", test: &chkOffDelTopic, needs: []*check{&chkOffDelGroup, &chkOffDelTopic}, ok: okAny,
			req: mxOffsetDelete, code: func(r kmsg.Response) int16 {
				rs := r.(*kmsg.OffsetDeleteResponse)
				if rs.ErrorCode != 0 {
					return rs.ErrorCode
				}
				return rs.Topics[0].Partitions[0].ErrorCode
			}},
	}
}

func TestACLMatrix(t *testing.T) {
	as := startAuthServer(t, "", acl.Config{})
	e := &mxEnv{t: t, as: as, admin: as.dialAs(t, testAdmin)}
	if c := e.admin.roundTrip(mxCreateTopic(mxTopic)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
		t.Fatalf("create %s: %d", mxTopic, c)
	}
	// A group with a committed offset, for the group APIs to find.
	if c := mxCommitCode(e.admin.roundTrip(mxCommit(e))); c != 0 {
		t.Fatalf("commit as admin: %d", c)
	}
	// mxTxn's producer, for the transaction APIs.
	ip := e.admin.roundTrip(mxInitPID(kmsgString(mxTxn))).(*kmsg.InitProducerIDResponse)
	if ip.ErrorCode != 0 {
		t.Fatalf("InitProducerId %s as admin: %d", mxTxn, ip.ErrorCode)
	}
	e.pid, e.epoch = ip.ProducerID, ip.ProducerEpoch
	cases := mxCases()
	covered := map[int16][]*check{}
	for _, c := range cases {
		covered[c.key] = append(covered[c.key], c.test)
	}
	for key, checks := range apiChecks {
		if _, served := apis[key]; !served {
			t.Errorf("apiChecks names key %d, which is not served", key)
		}
		for _, c := range checks {
			if !slices.Contains(covered[key], c) {
				t.Errorf("api key %d: check %s %s (%s) has no matrix case", key, c.resource, c.op, c.when)
			}
		}
	}
	for key := range apis {
		if _, ok := apiChecks[key]; !ok {
			t.Errorf("api key %d is served but missing from apiChecks", key)
		}
	}
	rc := as.dialAs(t, mxPrincipal)
	send := func(c mxCase, grants []acl.Binding) int16 {
		t.Helper()
		as.setACLs(t, grants)
		return c.code(rc.roundTrip(c.req(e)))
	}
	for _, c := range cases {
		var all, without []acl.Binding
		for _, n := range c.needs {
			all = append(all, grant(n, mxPrincipal))
			if n != c.test {
				without = append(without, grant(n, mxPrincipal))
			}
		}
		want := filtered
		if c.test.err != nil {
			want = c.test.err.Code
		}
		if got := send(c, without); got != want {
			t.Errorf("%s (key %d) without %s on %s: code %d, want %d", c.name, c.key, c.test.op, c.test.resource, got, want)
		}
		got := send(c, all)
		if got == want || c.ok != okAny && got != c.ok {
			t.Errorf("%s (key %d) with every grant: code %d, want %d", c.name, c.key, got, c.ok)
		}
		if c.test.or != nil {
			alt := append(without, grant(c.test.or, mxPrincipal))
			if got := send(c, alt); got == want {
				t.Errorf("%s (key %d) with the alternative %s on %s: code %d", c.name, c.key, c.test.or.op, c.test.or.resource, got)
			}
		}
	}
}

func TestACLListingsFilterTopics(t *testing.T) {
	as := startAuthServer(t, "", acl.Config{})
	admin := as.dialAs(t, testAdmin)
	for _, n := range []string{"m-seen", "hidden"} {
		if c := admin.roundTrip(mxCreateTopic(n)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
			t.Fatalf("create %s: %d", n, c)
		}
	}
	as.setACLs(t, []acl.Binding{grant(&chkMetadataTopic, mxPrincipal)})
	rc := as.dialAs(t, mxPrincipal)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	var names []string
	for _, tp := range rc.roundTrip(req).(*kmsg.MetadataResponse).Topics {
		names = append(names, *tp.Topic)
	}
	if !slices.Equal(names, []string{"m-seen"}) {
		t.Errorf("all-topics Metadata as %s: %v, want [m-seen]", mxPrincipal, names)
	}
	if c := mxMetadataCode(rc.roundTrip(mxMetadata("hidden"))); c != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("Metadata for hidden: %d, want TOPIC_AUTHORIZATION_FAILED", c)
	}

	// OffsetFetch of every committed offset leaves out what the principal
	// may not DESCRIBE.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.Generation = 8, mxGroup, -1
	for _, n := range []string{"m-seen", "hidden"} {
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = n
		ct.Partitions = append(ct.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
		commit.Topics = append(commit.Topics, ct)
	}
	for _, ct := range admin.roundTrip(commit).(*kmsg.OffsetCommitResponse).Topics {
		if c := ct.Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("commit %s: %d", ct.Topic, c)
		}
	}
	as.setACLs(t, []acl.Binding{grant(&chkMetadataTopic, mxPrincipal), grant(&chkOffFetchGroup, mxPrincipal)})
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version, of.Group = 7, mxGroup
	ofr := rc.roundTrip(of).(*kmsg.OffsetFetchResponse)
	names = nil
	for _, tp := range ofr.Topics {
		names = append(names, tp.Topic)
	}
	if ofr.ErrorCode != 0 || !slices.Equal(names, []string{"m-seen"}) {
		t.Errorf("OffsetFetch of all topics as %s: error %d, topics %v, want [m-seen]", mxPrincipal, ofr.ErrorCode, names)
	}
}

func mxFetch(replica int32) kmsg.Request {
	r := kmsg.NewPtrFetchRequest()
	r.Version, r.ReplicaID, r.MaxWaitMillis, r.MaxBytes = 11, replica, 0, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = mxTopic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func mxFetchCode(r kmsg.Response) int16 {
	return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
}

func mxMetadata(topic string) kmsg.Request {
	r := kmsg.NewPtrMetadataRequest()
	r.Version, r.AllowAutoTopicCreation = 9, true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	r.Topics = append(r.Topics, mt)
	return r
}

func mxMetadataCode(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode }

func mxCommit(*mxEnv) kmsg.Request {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group, r.Generation = 8, mxGroup, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = mxTopic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 0
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func mxCommitCode(r kmsg.Response) int16 {
	return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

func mxOffsetFetch(*mxEnv) kmsg.Request {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.Group = 7, mxGroup
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = mxTopic, []int32{0}
	r.Topics = append(r.Topics, rt)
	return r
}

func mxFind(typ int8, key string) kmsg.Request {
	r := kmsg.NewPtrFindCoordinatorRequest()
	r.Version, r.CoordinatorType, r.CoordinatorKeys = 4, typ, []string{key}
	return r
}

func mxFindCode(r kmsg.Response) int16 {
	return r.(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode
}

func mxCreateTopic(name string) *kmsg.CreateTopicsRequest {
	r := kmsg.NewPtrCreateTopicsRequest()
	r.Version, r.TimeoutMillis = 4, 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
	r.Topics = append(r.Topics, rt)
	return r
}

func mxInitPID(txn *string) kmsg.Request {
	r := kmsg.NewPtrInitProducerIDRequest()
	r.Version, r.TransactionalID, r.TransactionTimeoutMillis = 4, txn, 60000
	r.ProducerID, r.ProducerEpoch = -1, -1
	return r
}

func mxEpoch(replica int32) kmsg.Request {
	r := kmsg.NewPtrOffsetForLeaderEpochRequest()
	r.Version, r.ReplicaID = 3, replica
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = mxTopic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 0
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func mxEpochCode(r kmsg.Response) int16 {
	return r.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
}

func mxDescribeConfigs(typ kmsg.ConfigResourceType, name string) kmsg.Request {
	r := kmsg.NewPtrDescribeConfigsRequest()
	r.Version = 3
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	r.Resources = append(r.Resources, rr)
	return r
}

func mxDescribeConfigsCode(r kmsg.Response) int16 {
	return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode
}

func mxAlterConfigs(typ kmsg.ConfigResourceType, name string) kmsg.Request {
	r := kmsg.NewPtrAlterConfigsRequest()
	r.Version, r.ValidateOnly = 1, true
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	if typ == kmsg.ConfigResourceTypeTopic {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		v := "60000"
		c.Name, c.Value = "retention.ms", &v
		rr.Configs = append(rr.Configs, c)
	}
	r.Resources = append(r.Resources, rr)
	return r
}

func mxAlterConfigsCode(r kmsg.Response) int16 {
	return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode
}

func mxIncAlter(typ kmsg.ConfigResourceType, name string) kmsg.Request {
	r := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r.Version, r.ValidateOnly = 1, true
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	if typ == kmsg.ConfigResourceTypeTopic {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		v := "60000"
		c.Name, c.Value, c.Op = "retention.ms", &v, kmsg.IncrementalAlterConfigOpSet
		rr.Configs = append(rr.Configs, c)
	}
	r.Resources = append(r.Resources, rr)
	return r
}

func mxIncAlterCode(r kmsg.Response) int16 {
	return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
}

func mxOffsetDelete(*mxEnv) kmsg.Request {
	r := kmsg.NewPtrOffsetDeleteRequest()
	r.Group = mxGroup
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = mxTopic
	rp := kmsg.NewOffsetDeleteRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func TestACLAuthorizedOperations(t *testing.T) {
	as := startAuthServer(t, "", acl.Config{})
	admin := as.dialAs(t, testAdmin)
	if c := admin.roundTrip(mxCreateTopic(mxTopic)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
		t.Fatalf("create: %d", c)
	}
	as.setACLs(t, []acl.Binding{
		grant(&check{resource: acl.Topic, op: acl.Read}, mxPrincipal),
		grant(&check{resource: acl.Topic, op: acl.AlterConfigs}, mxPrincipal),
		grant(&check{resource: acl.Cluster, op: acl.Describe}, mxPrincipal),
		grant(&check{resource: acl.Group, op: acl.Delete}, mxPrincipal),
	})
	rc := as.dialAs(t, mxPrincipal)
	bits := func(ops ...acl.Operation) int32 {
		var b int32
		for _, op := range ops {
			b |= 1 << op
		}
		return b
	}
	md := mxMetadata(mxTopic).(*kmsg.MetadataRequest)
	md.Version, md.IncludeTopicAuthorizedOperations, md.IncludeClusterAuthorizedOperations = 10, true, true
	resp := rc.roundTrip(md).(*kmsg.MetadataResponse)
	if got, want := resp.Topics[0].AuthorizedOperations, bits(acl.Read, acl.Describe, acl.DescribeConfigs, acl.AlterConfigs); got != want {
		t.Errorf("topic authorized operations %b, want %b", got, want)
	}
	if got, want := resp.AuthorizedOperations, bits(acl.Describe); got != want {
		t.Errorf("cluster authorized operations %b, want %b", got, want)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	if got, want := admin.roundTrip(dc).(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations,
		bits(supportedOps[acl.Cluster]...); got != want {
		t.Errorf("super user's cluster operations %b, want %b", got, want)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version, dg.Groups, dg.IncludeAuthorizedOperations = 4, []string{mxGroup}, true
	if got, want := rc.roundTrip(dg).(*kmsg.DescribeGroupsResponse).Groups[0].AuthorizedOperations,
		bits(acl.Delete, acl.Describe); got != want {
		t.Errorf("group authorized operations %b, want %b", got, want)
	}
}

func mxAddParts(e *mxEnv) *kmsg.AddPartitionsToTxnRequest {
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.Version = 3
	r.TransactionalID, r.ProducerID, r.ProducerEpoch = mxTxn, e.pid, e.epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = mxTopic, []int32{0}
	r.Topics = append(r.Topics, rt)
	return r
}

func mxAddPartsCode(r kmsg.Response) int16 {
	return r.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
}

func mxAddOffsets(e *mxEnv) kmsg.Request {
	r := kmsg.NewPtrAddOffsetsToTxnRequest()
	r.Version = 3
	r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group = mxTxn, e.pid, e.epoch, mxGroup
	return r
}

func mxTxnCommit(e *mxEnv) kmsg.Request {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = 3
	r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch, r.Generation = mxTxn, mxGroup, e.pid, e.epoch, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = mxTopic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Offset = 0
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func mxTxnCommitCode(r kmsg.Response) int16 {
	return r.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

func mxDescribeTxn(*mxEnv) kmsg.Request {
	r := kmsg.NewPtrDescribeTransactionsRequest()
	r.TransactionalIDs = []string{mxTxn}
	return r
}

// TestACLTxnPartial covers what the matrix's one-resource requests do
// not: AddPartitionsToTxn failing as a whole when one topic is denied (the
// others OPERATION_NOT_ATTEMPTED, nothing added), internal topics, and the
// transactional ids DescribeTransactions and ListTransactions hide.
func TestACLTxnPartial(t *testing.T) {
	as := startAuthServer(t, "", acl.Config{})
	admin := as.dialAs(t, testAdmin)
	for _, n := range []string{mxTopic, "hidden"} {
		if c := admin.roundTrip(mxCreateTopic(n)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
			t.Fatalf("create %s: %d", n, c)
		}
	}
	e := &mxEnv{t: t, as: as, admin: admin}
	for _, id := range []string{"hidden-txn", mxTxn} {
		ip := admin.roundTrip(mxInitPID(kmsgString(id))).(*kmsg.InitProducerIDResponse)
		if ip.ErrorCode != 0 {
			t.Fatalf("InitProducerId %s: %d", id, ip.ErrorCode)
		}
		e.pid, e.epoch = ip.ProducerID, ip.ProducerEpoch
	}
	as.setACLs(t, []acl.Binding{grant(&chkAddPartsTxn, mxPrincipal), grant(&chkAddPartsTopic, mxPrincipal),
		grant(&chkDescTxn, mxPrincipal)})
	rc := as.dialAs(t, mxPrincipal)

	codes := func(r *kmsg.AddPartitionsToTxnResponse) map[string]int16 {
		m := map[string]int16{}
		for _, rt := range r.Topics {
			m[rt.Topic] = rt.Partitions[0].ErrorCode
		}
		return m
	}
	req := mxAddParts(e)
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = "hidden", []int32{0}
	req.Topics = append(req.Topics, rt)
	got := codes(rc.roundTrip(req).(*kmsg.AddPartitionsToTxnResponse))
	want := map[string]int16{mxTopic: kerr.OperationNotAttempted.Code, "hidden": kerr.TopicAuthorizationFailed.Code}
	if !maps.Equal(got, want) {
		t.Errorf("AddPartitionsToTxn with a denied topic: %v, want %v", got, want)
	}
	if st := describeTxn(t, admin, mxTxn); len(st.Topics) != 0 {
		t.Errorf("partitions added by a failed request: %v", st.Topics)
	}
	// Internal topics are never the client's to add (Kafka leaves them out
	// of the authorized topics), not even a super user's.
	req = mxAddParts(e)
	req.Topics[0].Topic = "__consumer_offsets"
	if c := admin.roundTrip(req).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("AddPartitionsToTxn of __consumer_offsets: %d, want TOPIC_AUTHORIZATION_FAILED", c)
	}

	// DescribeTransactions answers in request order, the hidden id denied.
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"hidden-txn", mxTxn}
	var ids []string
	var errs []int16
	for _, st := range rc.roundTrip(dt).(*kmsg.DescribeTransactionsResponse).TransactionStates {
		ids, errs = append(ids, st.TransactionalID), append(errs, st.ErrorCode)
	}
	if !slices.Equal(ids, dt.TransactionalIDs) || !slices.Equal(errs, []int16{kerr.TransactionalIDAuthorizationFailed.Code, 0}) {
		t.Errorf("DescribeTransactions: ids %v codes %v", ids, errs)
	}
	lt := kmsg.NewPtrListTransactionsRequest()
	ids = nil
	for _, st := range rc.roundTrip(lt).(*kmsg.ListTransactionsResponse).TransactionStates {
		ids = append(ids, st.TransactionalID)
	}
	if !slices.Equal(ids, []string{mxTxn}) {
		t.Errorf("ListTransactions as %s: %v, want [%s]", mxPrincipal, ids, mxTxn)
	}
}
