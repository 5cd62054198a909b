package broker

import "github.com/sluice/sluice/controller"

// MetadataApplyStamps returns when this node last applied a metadata log
// entry to its image and when its reconciler last finished a pass, with
// the leader's append time of each entry (controller/applylag.go); ok is
// false without a controller quorum.
func (b *Broker) MetadataApplyStamps() (image, reconciled controller.ApplyStamp, ok bool) {
	if b.cl == nil {
		return image, reconciled, false
	}
	image, reconciled = b.cl.ctl.ApplyStamps()
	return image, reconciled, true
}
