package statsig

// WaitingGateCallers lets the batching test know that every caller has joined a batch before it
// closes the window on a fake clock.
func (c *Client) WaitingGateCallers() int { return c.batcher.waitingCallers() }
