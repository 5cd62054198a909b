package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
)

// sluice acls: kafka-acls.sh's --add, --list and --remove, with its flags.
//
//	sluice acls create --allow-principal User:ann --operation Read --topic orders
//	sluice acls list [--topic T | --group G | …] [--principal P]
//	sluice acls delete --topic orders [--allow-principal User:ann] [--operation Read]

func init() {
	register(&command{
		name:    "acls",
		summary: "create, list and delete ACLs (as kafka-acls.sh)",
		usage: "acls [--brokers B] create|list|delete [--allow-principal P]… [--deny-principal P]…\n" +
			"       [--allow-host H]… [--deny-host H]… [--operation OP]… [--topic T]… [--group G]…\n" +
			"       [--cluster] [--transactional-id ID]… [--resource-pattern-type literal|prefixed|any|match]",
		flags: aclsFlags,
		more:  aclsSubList,
	})
}

func aclsSubList(w io.Writer) {
	fmt.Fprint(w, `subcommands:
  create  add an ACL for each principal × host × operation × resource given
          (--operation defaults to All, hosts to *, the pattern type to literal)
  list    ACLs on the resources given (all ACLs when none is), optionally of
          one --principal; --resource-pattern-type any or match widens the match
  delete  remove the ACLs that match the principals, hosts, operations and
          resources given (unset ones match anything)
Principals are Type:name (User:ann, User:* for everyone); hosts are * or an IP
address; operations: All, Read, Write, Create, Delete, Alter, Describe,
ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite.
`)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

type aclsOpts struct {
	*clientFlags
	allow, deny, allowHosts, denyHosts stringList
	ops, topics, groups, txnIDs        stringList
	principal                          string
	cluster                            bool
	pattern                            string
}

func (o *aclsOpts) register(fs *flag.FlagSet) {
	o.clientFlags = addClientFlags(fs)
	fs.Var(&o.allow, "allow-principal", "principal allowed (Type:name, e.g. User:ann; repeatable)")
	fs.Var(&o.deny, "deny-principal", "principal denied (repeatable)")
	fs.Var(&o.allowHosts, "allow-host", "host (IP address or *) the allow principals are allowed from (repeatable; default *)")
	fs.Var(&o.denyHosts, "deny-host", "host the deny principals are denied from (repeatable; default *)")
	fs.Var(&o.ops, "operation", "operation (repeatable; create: default All)")
	fs.Var(&o.topics, "topic", "topic resource (repeatable; * for every topic)")
	fs.Var(&o.groups, "group", "consumer group resource (repeatable)")
	fs.Var(&o.txnIDs, "transactional-id", "transactional id resource (repeatable)")
	fs.BoolVar(&o.cluster, "cluster", false, "the cluster resource")
	fs.StringVar(&o.principal, "principal", "", "list: only ACLs of this principal")
	fs.StringVar(&o.pattern, "resource-pattern-type", "literal", "literal or prefixed; list and delete also take any and match")
}

func aclsFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	var o aclsOpts
	o.register(fs)
	return func(args []string, stdout, stderr io.Writer) int {
		err := runACLs(fs, &o, args, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return codeHelp
		}
		var fe flagErr
		if errors.As(err, &fe) {
			return flagError(stderr, "acls", fe.error)
		}
		return exit(stderr, "acls", err)
	}
}

func runACLs(fs *flag.FlagSet, o *aclsOpts, args []string, stdout, stderr io.Writer) error {
	args, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return flagErr{err}
	}
	if len(args) != 1 {
		return usagef("want one subcommand (create, list, delete), got %d arguments", len(args))
	}
	var run func(context.Context, *kgo.Client, *aclsOpts, io.Writer, io.Writer) error
	switch args[0] {
	case "create":
		run = aclsCreate
	case "list":
		run = aclsList
	case "delete":
		run = aclsDelete
	default:
		return usagef("unknown subcommand %q", args[0])
	}
	cl, err := o.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	return run(ctx, cl, o, stdout, stderr)
}

// resource is one resource named on the command line.
type resource struct {
	typ  acl.ResourceType
	name string
}

func (o *aclsOpts) resources() []resource {
	var out []resource
	for _, t := range o.topics {
		out = append(out, resource{acl.Topic, t})
	}
	for _, g := range o.groups {
		out = append(out, resource{acl.Group, g})
	}
	for _, id := range o.txnIDs {
		out = append(out, resource{acl.TransactionalID, id})
	}
	if o.cluster {
		out = append(out, resource{acl.Cluster, acl.ClusterName})
	}
	return out
}

func (o *aclsOpts) operations(def acl.Operation) ([]acl.Operation, error) {
	if len(o.ops) == 0 {
		return []acl.Operation{def}, nil
	}
	var out []acl.Operation
	for _, s := range o.ops {
		op, err := acl.ParseOperation(s)
		if err != nil || op <= acl.OpAny && def != acl.OpAny {
			return nil, usagef("unknown operation %q", s)
		}
		out = append(out, op)
	}
	return out, nil
}

func (o *aclsOpts) patternType(forFilter bool) (acl.PatternType, error) {
	p, err := acl.ParsePatternType(o.pattern)
	if err != nil || p == acl.PatternUnknown || !forFilter && p != acl.Literal && p != acl.Prefixed {
		return 0, usagef("--resource-pattern-type %q: want literal or prefixed%s", o.pattern,
			map[bool]string{true: " (or any, match)"}[forFilter])
	}
	return p, nil
}

// entry is one (principal, host, permission) the flags name.
type entry struct {
	principal, host string
	perm            acl.Permission
}

func (o *aclsOpts) entries() []entry {
	var out []entry
	add := func(principals, hosts []string, perm acl.Permission) {
		if len(hosts) == 0 {
			hosts = []string{acl.WildcardHost}
		}
		for _, p := range principals {
			for _, h := range hosts {
				out = append(out, entry{p, h, perm})
			}
		}
	}
	add(o.allow, o.allowHosts, acl.Allow)
	add(o.deny, o.denyHosts, acl.Deny)
	return out
}

func aclsCreate(ctx context.Context, cl *kgo.Client, o *aclsOpts, stdout, _ io.Writer) error {
	res := o.resources()
	es := o.entries()
	if len(res) == 0 || len(es) == 0 {
		return usagef("create: want a resource (--topic, --group, --cluster, --transactional-id) and --allow-principal or --deny-principal")
	}
	ops, err := o.operations(acl.All)
	if err != nil {
		return err
	}
	pt, err := o.patternType(false)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrCreateACLsRequest()
	var made []acl.Binding
	for _, r := range res {
		for _, e := range es {
			for _, op := range ops {
				b := acl.Binding{ResourceType: r.typ, ResourceName: r.name, PatternType: pt,
					Principal: e.principal, Host: e.host, Operation: op, Permission: e.perm}
				made = append(made, b)
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName = kmsg.ACLResourceType(b.ResourceType), b.ResourceName
				c.ResourcePatternType = kmsg.ACLResourcePatternType(b.PatternType)
				c.Principal, c.Host = b.Principal, b.Host
				c.Operation, c.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
				req.Creations = append(req.Creations, c)
			}
		}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("cannot create ACLs: %w", err)
	}
	var errs []error
	var ok []acl.Binding
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil && i < len(made) {
			errs = append(errs, fmt.Errorf("%s: %s", made[i], errText(err, deref(r.ErrorMessage))))
			continue
		}
		ok = append(ok, made[i])
	}
	if len(ok) > 0 || o.json() {
		if err := printBindings(stdout, o, ok); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// filters is the ACL filters the flags name: one per resource (or one for
// every resource) × entry (or any principal and host) × operation.
func (o *aclsOpts) filters() ([]kmsg.DeleteACLsRequestFilter, error) {
	pt, err := o.patternType(true)
	if err != nil {
		return nil, err
	}
	ops, err := o.operations(acl.OpAny)
	if err != nil {
		return nil, err
	}
	res := o.resources()
	type who struct {
		principal, host *string
		perm            acl.Permission
	}
	var whos []who
	for _, e := range o.entries() {
		whos = append(whos, who{&e.principal, &e.host, e.perm})
	}
	if len(whos) == 0 {
		w := who{perm: acl.PermissionAny}
		if o.principal != "" {
			w.principal = &o.principal
		}
		whos = append(whos, w)
	}
	var out []kmsg.DeleteACLsRequestFilter
	add := func(typ acl.ResourceType, name *string, pt acl.PatternType) {
		for _, w := range whos {
			for _, op := range ops {
				f := kmsg.NewDeleteACLsRequestFilter()
				f.ResourceType, f.ResourceName, f.ResourcePatternType = kmsg.ACLResourceType(typ), name, kmsg.ACLResourcePatternType(pt)
				f.Principal, f.Host = w.principal, w.host
				f.Operation, f.PermissionType = kmsg.ACLOperation(op), kmsg.ACLPermissionType(w.perm)
				out = append(out, f)
			}
		}
	}
	if len(res) == 0 {
		add(acl.ResourceAny, nil, acl.PatternAny)
	}
	for _, r := range res {
		add(r.typ, &r.name, pt)
	}
	return out, nil
}

func aclsList(ctx context.Context, cl *kgo.Client, o *aclsOpts, stdout, _ io.Writer) error {
	fs, err := o.filters()
	if err != nil {
		return err
	}
	var all []acl.Binding
	for _, f := range fs {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourceName, req.ResourcePatternType = f.ResourceType, f.ResourceName, f.ResourcePatternType
		req.Principal, req.Host, req.Operation, req.PermissionType = f.Principal, f.Host, f.Operation, f.PermissionType
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return fmt.Errorf("cannot list ACLs: %w", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("cannot list ACLs: %s", errText(err, deref(resp.ErrorMessage)))
		}
		for _, r := range resp.Resources {
			for _, a := range r.ACLs {
				all = append(all, acl.Binding{ResourceType: acl.ResourceType(r.ResourceType), ResourceName: r.ResourceName,
					PatternType: acl.PatternType(r.ResourcePatternType), Principal: a.Principal, Host: a.Host,
					Operation: acl.Operation(a.Operation), Permission: acl.Permission(a.PermissionType)})
			}
		}
	}
	return printBindings(stdout, o, acl.SortBindings(all))
}

func aclsDelete(ctx context.Context, cl *kgo.Client, o *aclsOpts, stdout, _ io.Writer) error {
	if len(o.resources()) == 0 {
		return usagef("delete: want a resource (--topic, --group, --cluster, --transactional-id), as kafka-acls.sh --remove")
	}
	fs, err := o.filters()
	if err != nil {
		return err
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	req.Filters = fs
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("cannot delete ACLs: %w", err)
	}
	var gone []acl.Binding
	var errs []error
	for _, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("cannot delete ACLs: %s", errText(err, deref(r.ErrorMessage))))
			continue
		}
		for _, m := range r.MatchingACLs {
			gone = append(gone, acl.Binding{ResourceType: acl.ResourceType(m.ResourceType), ResourceName: m.ResourceName,
				PatternType: acl.PatternType(m.ResourcePatternType), Principal: m.Principal, Host: m.Host,
				Operation: acl.Operation(m.Operation), Permission: acl.Permission(m.PermissionType)})
		}
	}
	if err := printBindings(stdout, o, acl.SortBindings(gone)); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// aclRow is one row of the acls table.
type aclRow struct {
	ResourceType string `json:"resource_type"`
	Name         string `json:"name"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

func printBindings(w io.Writer, o *aclsOpts, bs []acl.Binding) error {
	rows := []aclRow{}
	for _, b := range bs {
		rows = append(rows, aclRow{b.ResourceType.String(), b.ResourceName, b.PatternType.String(),
			b.Principal, b.Host, b.Operation.String(), b.Permission.String()})
	}
	return printOut(w, o.output, rows, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "RESOURCE-TYPE\tNAME\tPATTERN\tPRINCIPAL\tHOST\tOPERATION\tPERMISSION")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ResourceType, r.Name, r.PatternType, r.Principal, r.Host, r.Operation, r.Permission)
		}
		return tw.Flush()
	})
}
