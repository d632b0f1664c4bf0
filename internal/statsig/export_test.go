package statsig

// WaitingGateCallers lets the batching test know that every caller has joined a batch before it
// closes the window on a fake clock.
func (c *Client) WaitingGateCallers() int { return c.batcher.waitingCallers() }

// WaitingReaders lets the read-sharing test know that every reader has joined.
func (c *Client) WaitingReaders() int { return c.reads.waiting() }
