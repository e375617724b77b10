package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

type createTokenRequest struct {
	Role     string `json:"role"`
	DeviceID string `json:"device_id"`
	Name     string `json:"name"`
}

type createTokenAnswer struct {
	Token
	Secret string `json:"token"` // shown once; only its hash is stored
}

type tokenList struct {
	Tokens []Token `json:"tokens"`
}

// createToken is POST /v1/admin/tokens {"role","device_id"?,"name"}.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, _ *Token) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return problem(CodeIncompleteBody, "reading the body: "+err.Error())
	}
	var req createTokenRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return problem(CodeMalformedJSON, err.Error())
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		return &Problem{Code: CodeBadParameter, Field: "role", Detail: err.Error()}
	}
	secret, tok, err := s.cfg.Tokens.Create(role, req.DeviceID, req.Name)
	if err != nil {
		return &Problem{Code: CodeBadParameter, Detail: err.Error()}
	}
	s.cfg.Logger.Info("token created", "id", tok.ID, "role", tok.Role.String(), "device_id", tok.DeviceID, "name", tok.Name)
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, createTokenAnswer{tok, secret})
}

// listTokens is GET /v1/admin/tokens: every valid token, without secrets.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ *Token) error {
	return writeJSON(w, http.StatusOK, tokenList{Tokens: s.cfg.Tokens.List()})
}

// revokeToken is DELETE /v1/admin/tokens/{id}.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, _ *Token) error {
	id := r.PathValue("id")
	if err := s.cfg.Tokens.Revoke(id); err != nil {
		return err
	}
	s.cfg.Logger.Info("token revoked", "id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
