package logic

// BlockDispatch holds the lock of every executor shard, so that the
// dispatch loop stops at its next request while the intake goes on
// filling the inbox; the returned function releases them. For tests of
// the inbound bound only: Server.Stats also takes those locks.
func BlockDispatch(s *Server) (release func()) {
	for i := range s.exec.shards {
		s.exec.shards[i].mu.Lock()
	}
	return func() {
		for i := range s.exec.shards {
			s.exec.shards[i].mu.Unlock()
		}
	}
}

// InboundWaiting returns the requests received and not yet handled by the
// dispatch loop, without the executor locks Stats takes.
func InboundWaiting(s *Server) int64 { return s.inbox.n.Load() + int64(len(s.in)) }
