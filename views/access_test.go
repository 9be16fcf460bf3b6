package views

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hookrelay/hookrelay/db"
)

func TestTargetHref(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target db.AuditTarget
		want   string
	}{
		{db.AuditTarget{Kind: db.TargetWebhook, ID: "whk_1"}, "/webhooks/whk_1"},
		{db.AuditTarget{Kind: db.TargetDelivery, ID: "dlv_1"}, "/deliveries/dlv_1"},
		{db.AuditTarget{Kind: db.TargetEvent, ID: "evt_1"}, "/events/evt_1"},
		{db.AuditTarget{Kind: db.TargetUser, ID: "usr_1"}, "/users/usr_1"},
		{db.AuditTarget{Kind: db.TargetAPIKey, ID: "key_1"}, "/api-keys#key_1"},
		{db.AuditTarget{Kind: db.TargetEmail}, "/alerts"},
		{db.AuditTarget{Kind: db.TargetUser}, ""},
		{db.AuditTarget{}, ""},
	} {
		assert.Equal(t, tc.want, TargetHref(tc.target), "%+v", tc.target)
	}
}

func TestRolesInTheRenderingContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	assert.False(t, Can(ctx, db.RoleViewer), "without a role, everything is locked")
	op := WithRole(ctx, db.RoleOperator)
	assert.True(t, Can(op, db.RoleViewer))
	assert.True(t, Can(op, db.RoleOperator))
	assert.False(t, Can(op, db.RoleAdmin))
	assert.Equal(t, "Your role, operator, cannot do this: it needs the admin role.", Why(op, db.RoleAdmin))
	var keys []string
	for _, item := range navFor(db.RoleOperator) {
		keys = append(keys, item.Key)
	}
	assert.Equal(t, []string{"dashboard", "webhooks", "deliveries", "events", "alerts"}, keys)
	assert.Len(t, navFor(db.RoleAdmin), len(Nav))
}
