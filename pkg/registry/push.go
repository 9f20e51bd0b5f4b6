package registry

// Push is a push route an instance declares (Instance.Pushes): the server
// sends messages of Type on (Cmd, Sub) to clients without a request.
type Push struct {
	Cmd  int32  `json:"cmd"`
	Sub  int32  `json:"sub"`
	Type string `json:"type"`
	Doc  string `json:"doc,omitempty"`
}
