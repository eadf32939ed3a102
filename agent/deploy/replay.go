package deploy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/labfleet/labfleet/internal/deployid"
)

// replay makes re-sending a deploy id idempotent: a finished id returns
// its recorded result (done) and touches nothing, but only for the same
// request (hash); an empty id gets a new one. Results recorded before
// requests were hashed have no hash and replay for any request of the app.
func (e *Engine) replay(id *string, app, hash string) (Result, bool, error) {
	if *id == "" {
		*id = deployid.New("", time.Now())
		return Result{}, false, nil
	}
	r, ok := e.store.Finished(*id)
	if !ok {
		return Result{}, false, nil
	}
	if r.App != app {
		return Result{}, true, &IDReusedError{fmt.Sprintf("deploy id %s was already used for app %s; use a new id", *id, r.App)}
	}
	if r.RequestHash != "" && r.RequestHash != hash {
		return Result{}, true, &IDReusedError{fmt.Sprintf("deploy id %s was already used for a different %s of %s (%s %s, version %s); "+
			"re-send the same request to see its result, or use a new id", *id, r.Kind, app, r.Kind, r.Outcome, orDash(r.Version))}
	}
	r.Replayed = true
	return r, true, nil
}

// requestHash is a keyed hash of everything a deploy request asks for
// (not its id, caller or dry-run flag), so a re-sent id can be told from
// a new request under an old id. The key is the store's, so it reveals
// nothing about secret values. The registry password is left out: a retry
// may well carry a fresh token for the same request.
func (e *Engine) requestHash(req Request) string {
	var user, server string
	if req.Auth != nil {
		user, server = req.Auth.Username, req.Auth.Server
	}
	in := struct {
		Kind       Kind
		App        string
		Image      string
		Version    string
		Spec       Spec
		Health     Health
		StartFirst bool
		Pull       PullPolicy
		AuthUser   string
		AuthServer string
	}{KindDeploy, req.App, req.Image, req.Version, req.Spec, req.Health, req.StartFirst, req.Pull, user, server}
	return e.hash(in)
}

// rollbackHash is requestHash for a rollback.
func (e *Engine) rollbackHash(req RollbackRequest) string {
	in := struct {
		Kind    Kind
		App     string
		Version string
		Health  *Health
	}{KindRollback, req.App, req.Version, req.Health}
	return e.hash(in)
}

func (e *Engine) hash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a NaN or infinite CPU count fails to marshal; %v prints
		// maps sorted, so this is stable too.
		b = fmt.Appendf(nil, "%v", v)
	}
	mac := hmac.New(sha256.New, e.store.Key())
	mac.Write(b)
	return hex.EncodeToString(mac.Sum(nil))[:32]
}
