package broker

// InternalUser returns the name and password of b's internal user of role,
// or of its full-permission internal user for role "".
func InternalUser(b *Broker, role string) (string, string) {
	cr := b.internal
	if role != "" {
		cr = b.roles[role]
	}
	return cr.user, cr.password
}
