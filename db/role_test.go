package db

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRoleAllows(t *testing.T) {
	t.Parallel()
	// Rows: holder; columns: what a route needs (viewer, operator, admin, ingest).
	for holder, want := range map[Role][4]bool{
		RoleViewer:   {true, false, false, false},
		RoleOperator: {true, true, false, false},
		RoleAdmin:    {true, true, true, true},
		RoleIngest:   {false, false, false, true},
		"":           {false, false, false, false},
		"root":       {false, false, false, false},
	} {
		for i, least := range KeyRoles {
			assert.Equal(t, want[i], holder.Allows(least), "%q needs %s", holder, least)
		}
		assert.False(t, holder.Allows(""), "nothing needs the empty role")
	}
	assert.Equal(t, []Role{RoleOperator, RoleAdmin}, RoleOperator.Holders())
	assert.Equal(t, []Role{RoleAdmin, RoleIngest}, RoleIngest.Holders())
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	r, err := ParseRole("operator", true)
	assert.NoError(t, err)
	assert.Equal(t, RoleOperator, r)
	_, err = ParseRole("ingest", true)
	assert.EqualError(t, err, "must be viewer, operator or admin")
	r, err = ParseRole("ingest", false)
	assert.NoError(t, err)
	assert.Equal(t, RoleIngest, r)
	_, err = ParseRole("Admin", false)
	assert.EqualError(t, err, "must be viewer, operator, admin or ingest")
}

func TestAPIKeySecrets(t *testing.T) {
	t.Parallel()
	k := NewAPIKeySecret()
	assert.True(t, LooksLikeAPIKey(k), k)
	assert.NotEqual(t, k, NewAPIKeySecret())
	assert.False(t, LooksLikeAPIKey("hrk_short"))
	assert.False(t, LooksLikeAPIKey("whsec_"+k[4:]))
	assert.Len(t, HashToken(k), 64)
}
