package views

import (
	"context"

	"github.com/hookrelay/hookrelay/db"
)

// The role of the signed-in user travels in the rendering context, so that every component
// can hide or lock the actions the role cannot use (Can, Locked) without each one taking the
// role as an argument. handlers.Server.fragment puts it there; a component rendered without
// it shows every action locked.

type roleKey struct{}

// WithRole returns ctx carrying the signed-in user's role.
func WithRole(ctx context.Context, r db.Role) context.Context {
	return context.WithValue(ctx, roleKey{}, r)
}

// RoleOf returns the signed-in user's role, or "" when none was given.
func RoleOf(ctx context.Context) db.Role {
	r, _ := ctx.Value(roleKey{}).(db.Role)
	return r
}

// Can reports whether the signed-in user's role allows what needs least, as the server's
// rule for the route behind the action does.
func Can(ctx context.Context, least db.Role) bool { return RoleOf(ctx).Allows(least) }

// Why says why an action is locked for the signed-in user.
func Why(ctx context.Context, least db.Role) string {
	need := "the admin role"
	if least == db.RoleOperator {
		need = "the operator or admin role"
	}
	return "Your role, " + string(RoleOf(ctx)) + ", cannot do this: it needs " + need + "."
}

// roleNote is the sentence the layout shows non-admins about what their role may do.
func roleNote(r db.Role) string {
	switch r {
	case db.RoleViewer:
		return "You are signed in as a viewer: you can see everything here except signing secrets, and change nothing. Greyed-out actions need the operator or admin role; ask an admin if you need one."
	case db.RoleOperator:
		return "You are signed in as an operator: you can retry deliveries, send test events and enable or disable webhooks. Greyed-out actions (creating, editing and deleting webhooks, secrets, users, API keys, the test email, the audit log) need the admin role."
	}
	return ""
}

// TargetHref is where an audit record's target is shown, or "" for targets without a page.
func TargetHref(t db.AuditTarget) string {
	if t.ID == "" && t.Kind != db.TargetEmail {
		return ""
	}
	switch t.Kind {
	case db.TargetWebhook:
		return "/webhooks/" + t.ID
	case db.TargetDelivery:
		return "/deliveries/" + t.ID
	case db.TargetEvent:
		return "/events/" + t.ID
	case db.TargetUser:
		return "/users/" + t.ID
	case db.TargetAPIKey:
		return "/api-keys#" + t.ID
	case db.TargetEmail:
		return "/alerts"
	}
	return ""
}

func targetLabel(t db.AuditTarget) string {
	switch {
	case t.Kind == "":
		return "—"
	case t.ID == "":
		return t.Kind
	}
	return t.ID
}
