package broker

import "sync"

// notifier wakes lease long-polls waiting for a model's queue. It is a
// broadcast: notify closes the model's current channel and makes a new one.
type notifier struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: map[string]chan struct{}{}} }

// wait returns a channel closed at the next notify of model.
func (n *notifier) wait(model string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.ch[model]
	if c == nil {
		c = make(chan struct{})
		n.ch[model] = c
	}
	return c
}

func (n *notifier) notify(model string) {
	n.mu.Lock()
	c := n.ch[model]
	delete(n.ch, model)
	n.mu.Unlock()
	if c != nil {
		close(c)
	}
}
