package channels

// SubscribeFunc calls fn with the live stored messages (both directions) of a conversation, without a
// channel or a goroutine per subscriber: see Bus.SubscribeFunc for its rules (fn never blocks and never
// calls the router's Subscribe methods or its own cancel; false ends the subscription).
func (r *Router) SubscribeFunc(conversation string, fn func(Message) bool) (cancel func()) {
	return r.bus.SubscribeFunc(conversation, fn)
}
