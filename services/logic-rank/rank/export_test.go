package rank

// Backend exposes the module's records backend to the tests.
func (s *Module) Backend() Boards { return s.backend }
