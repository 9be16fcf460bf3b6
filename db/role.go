package db

import "fmt"

// Role is what a user or an API key may do. Users are viewers, operators or admins; an API
// key may hold any of those roles or be an ingest key. Every route of the server declares the
// least role it needs (handlers/routes.go, handlers/ui.go), and Allows decides.
type Role string

const (
	// RoleViewer reads every page and every GET of the API, except signing secrets and
	// custom-header values, and changes nothing.
	RoleViewer Role = "viewer"
	// RoleOperator is a viewer who may also retry, recover, replay, send test events and
	// enable or disable webhooks: what the engineer on call needs.
	RoleOperator Role = "operator"
	// RoleAdmin may do everything: webhooks, secrets, users, API keys, the test email, the
	// audit log, and ingest too.
	RoleAdmin Role = "admin"
	// RoleIngest is for API keys only: it opens the two ingest routes and nothing else.
	RoleIngest Role = "ingest"
)

// UserRoles are the roles a user may have, least first.
var UserRoles = []Role{RoleViewer, RoleOperator, RoleAdmin}

// KeyRoles are the roles an API key may have.
var KeyRoles = []Role{RoleViewer, RoleOperator, RoleAdmin, RoleIngest}

// ValidForUser reports whether a user may have r.
func (r Role) ValidForUser() bool { return r == RoleViewer || r == RoleOperator || r == RoleAdmin }

// ValidForKey reports whether an API key may have r.
func (r Role) ValidForKey() bool { return r.ValidForUser() || r == RoleIngest }

// Allows reports whether a holder of r may use what needs least. viewer < operator < admin
// is a ladder; ingest stands apart, and only ingest keys and admins may ingest.
func (r Role) Allows(least Role) bool {
	switch least {
	case RoleViewer:
		return r == RoleViewer || r == RoleOperator || r == RoleAdmin
	case RoleOperator:
		return r == RoleOperator || r == RoleAdmin
	case RoleAdmin:
		return r == RoleAdmin
	case RoleIngest:
		return r == RoleIngest || r == RoleAdmin
	}
	return false
}

// Holders lists the roles that may use what needs r, in the order of KeyRoles.
func (r Role) Holders() []Role {
	var out []Role
	for _, h := range KeyRoles {
		if h.Allows(r) {
			out = append(out, h)
		}
	}
	return out
}

// ParseRole reads a role name, for a user (forUser) or an API key.
func ParseRole(s string, forUser bool) (Role, error) {
	r := Role(s)
	if forUser && r.ValidForUser() || !forUser && r.ValidForKey() {
		return r, nil
	}
	if forUser {
		return "", fmt.Errorf("must be viewer, operator or admin")
	}
	return "", fmt.Errorf("must be viewer, operator, admin or ingest")
}
