package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/db"
)

// maxKeyName is the longest name of an API key, in characters.
const maxKeyName = 100

// apiKeyResponse is an API key as the API shows it. Key is set only in the answer to a
// create: the key is shown that once, and the store keeps only its hash.
type apiKeyResponse struct {
	ID         string  `json:"id"`
	Key        string  `json:"key,omitempty"`
	Name       string  `json:"name"`
	Role       string  `json:"role"`
	CreatedAt  string  `json:"createdAt"`
	ExpiresAt  *string `json:"expiresAt"`
	LastUsedAt *string `json:"lastUsedAt"`
}

func newAPIKeyResponse(k db.APIKey) apiKeyResponse {
	return apiKeyResponse{ID: k.ID, Name: k.Name, Role: string(k.Role), CreatedAt: db.FormatTime(k.CreatedAt),
		ExpiresAt: optionalTime(k.ExpiresAt), LastUsedAt: optionalTime(k.LastUsedAt)}
}

type apiKeyListResponse struct {
	Data []apiKeyResponse `json:"data"`
}

// apiKeyRequest is the body of POST /api/v1/api-keys. The UI's form fills it too, so both
// follow the same rules.
type apiKeyRequest struct {
	Name      *string `json:"name"`
	Role      *string `json:"role"`
	ExpiresAt *string `json:"expiresAt"`
}

// validate checks the request at now and returns the first problem, an *apiError naming
// the field.
func (q apiKeyRequest) validate(now time.Time) (name string, role db.Role, expires time.Time, err error) {
	name, role, expires, errs := q.check(now)
	if len(errs) > 0 {
		return "", "", time.Time{}, errs[0]
	}
	return name, role, expires, nil
}

// check checks every field at now, returning each problem (the UI shows them all).
func (q apiKeyRequest) check(now time.Time) (name string, role db.Role, expires time.Time, errs []*apiError) {
	switch {
	case q.Name == nil:
		errs = append(errs, invalidValue("name", "is required"))
	case strings.TrimSpace(*q.Name) == "":
		errs = append(errs, invalidValue("name", "must not be empty"))
	case utf8.RuneCountInString(strings.TrimSpace(*q.Name)) > maxKeyName:
		errs = append(errs, invalidValue("name", fmt.Sprintf("must be at most %d characters", maxKeyName)))
	case strings.ContainsFunc(*q.Name, unicode.IsControl):
		errs = append(errs, invalidValue("name", "must not contain control characters"))
	default:
		name = strings.TrimSpace(*q.Name)
	}
	if q.Role == nil {
		errs = append(errs, invalidValue("role", "is required"))
	} else if r, err := db.ParseRole(*q.Role, false); err != nil {
		errs = append(errs, invalidValue("role", err.Error()))
	} else {
		role = r
	}
	if q.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *q.ExpiresAt)
		switch {
		case err != nil:
			errs = append(errs, invalidValue("expiresAt", `must be an RFC 3339 time such as "2027-01-02T15:04:05Z"`))
		case !t.After(now):
			errs = append(errs, invalidValue("expiresAt", "must be in the future"))
		default:
			expires = t.UTC()
		}
	}
	return name, role, expires, errs
}

// makeAPIKey creates a key by a validated request and records it. It returns the key
// itself, which is never stored.
func (s *Server) makeAPIKey(r *http.Request, name string, role db.Role, expires time.Time) (db.APIKey, string, error) {
	secret := db.NewAPIKeySecret()
	k, err := s.DB.CreateAPIKey(r.Context(), db.NewAPIKey{Name: name, Role: role, Hash: db.HashToken(secret), ExpiresAt: expires})
	if err != nil {
		return db.APIKey{}, "", err
	}
	s.audit(r, db.AuditAPIKeyCreate, apiKeyTarget(k.ID), apiKeySummary(k))
	return k, secret, nil
}

func apiKeySummary(k db.APIKey) string {
	out := fmt.Sprintf("name %q; role %s", k.Name, k.Role)
	if !k.ExpiresAt.IsZero() {
		out += "; expires " + db.FormatTime(k.ExpiresAt)
	}
	return out
}

// revokeKey deletes a key, drops it from this instance's cache so that it is refused here at
// once (other instances refuse it within keyCacheTTL), and records it.
func (s *Server) revokeKey(r *http.Request, id string) error {
	k, err := s.DB.FindAPIKey(r.Context(), id)
	if err != nil {
		return err
	}
	if err := s.DB.DeleteAPIKey(r.Context(), id); err != nil {
		return err
	}
	s.auth.keys.forget(id)
	s.audit(r, db.AuditAPIKeyRevoke, apiKeyTarget(id), apiKeySummary(k))
	return nil
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.maxAdminBodyBytes())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req apiKeyRequest
	if err := decodeStrict(body, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	name, role, expires, err := req.validate(s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	k, secret, err := s.makeAPIKey(r, name, role, expires)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := newAPIKeyResponse(k)
	resp.Key = secret
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.DB.ListAPIKeys(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := apiKeyListResponse{Data: make([]apiKeyResponse, 0, len(keys))}
	for _, k := range keys {
		resp.Data = append(resp.Data, newAPIKeyResponse(k))
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.revokeKey(r, id); err != nil {
		s.fail(w, r, notFoundAs(err, "api key", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
