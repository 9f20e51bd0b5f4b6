package login

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iogo-dev/iogo/pkg/store"
)

// account is the record under user.<id> in the accounts bucket, in JSON.
type account struct {
	ID       int64  `json:"id"`
	Nickname string `json:"nickname,omitempty"`
	// Username as registered (display case); its claim is name.<key>.
	Username string `json:"username,omitempty"`
	// Hash is the argon2id PHC string of the password.
	Hash string `json:"hash,omitempty"`
	// Device is the guest device ID of a device account.
	Device string `json:"device,omitempty"`
	// Ext are the linked external identities; each has a claim ext.<key>.
	Ext []extID `json:"ext,omitempty"`
	// Epoch is in every token; raising it revokes every token of the user.
	Epoch   uint64 `json:"epoch,omitempty"`
	Ban     *ban   `json:"ban,omitempty"`
	Created int64  `json:"created_ms"`
}

// extID is an identity at an external provider.
type extID struct {
	Provider string `json:"provider"`
	ID       string `json:"id"`
}

// ban bars an account from logging in.
type ban struct {
	Reason  string `json:"reason"`
	UntilMs int64  `json:"until_ms,omitempty"` // 0: for good
}

// guest reports whether only a device logs the account in.
func (a *account) guest() bool { return a.Username == "" && len(a.Ext) == 0 }

// banned returns the account's ban if it is in force at now.
func (a *account) banned(now time.Time) *ban {
	if a.Ban == nil || (a.Ban.UntilMs != 0 && now.UnixMilli() >= a.Ban.UntilMs) {
		return nil
	}
	return a.Ban
}

// Store keys. Values that are not key tokens (usernames, identities) are
// encoded: base64url keeps the key alphabet.
func userKey(id int64) string { return "user." + strconv.FormatInt(id, 10) }

func nameKey(username string) string {
	return "name." + base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(username)))
}

func extKey(provider, id string) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + id))
	return "ext." + provider + "." + base64.RawURLEncoding.EncodeToString(sum[:])
}

const seqKey = "seq.user"

// getAccount loads user.<id>; store.ErrNotFound when there is none.
func (m *Module) getAccount(ctx context.Context, id int64) (*account, error) {
	e, err := m.accounts.Get(ctx, userKey(id))
	if err != nil {
		return nil, err
	}
	a := new(account)
	if err := json.Unmarshal(e.Value, a); err != nil {
		return nil, fmt.Errorf("login: account %d: %w", id, err)
	}
	return a, nil
}

// updateAccount applies fn to user.<id> atomically (retrying on conflicts;
// fn may run several times) and returns the stored record.
func (m *Module) updateAccount(ctx context.Context, id int64, fn func(a *account) error) (*account, error) {
	var out *account
	_, err := store.Update(ctx, m.accounts, userKey(id), func(cur []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, store.ErrNotFound
		}
		a := new(account)
		if err := json.Unmarshal(cur, a); err != nil {
			return nil, err
		}
		if err := fn(a); err != nil {
			return nil, err
		}
		out = a
		return json.Marshal(a)
	})
	return out, err
}

// claimed returns the userID a claim key (name.*, ext.*) points to.
func (m *Module) claimed(ctx context.Context, key string) (int64, error) {
	e, err := m.accounts.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(e.Value), 10, 64)
}

// allocID returns a new userID: the counter seq.user, raised with
// compare-and-set, so instances never hand out one ID twice.
func (m *Module) allocID(ctx context.Context) (int64, error) {
	var id int64
	_, err := store.Update(ctx, m.accounts, seqKey, func(cur []byte, exists bool) ([]byte, error) {
		id = m.cfg.FirstUserID
		if exists {
			last, err := strconv.ParseInt(string(cur), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("login: counter %s: %w", seqKey, err)
			}
			id = max(last+1, m.cfg.FirstUserID)
		}
		return strconv.AppendInt(nil, id, 10), nil
	})
	return id, err
}

// createClaimed creates an account with a new userID and the claim key
// pointing to it. When the key is already claimed, it removes the new
// record and returns the claim's owner with store.ErrExists.
func (m *Module) createClaimed(ctx context.Context, a *account, key string) (int64, error) {
	var id int64
	for {
		var err error
		if id, err = m.allocID(ctx); err != nil {
			return 0, err
		}
		a.ID, a.Created = id, m.now().UnixMilli()
		b, err := json.Marshal(a)
		if err != nil {
			return 0, err
		}
		// The record first: a crash before the claim leaves an unreachable
		// record, never a claim without its account.
		_, err = m.accounts.Create(ctx, userKey(id), b)
		if err == nil {
			break
		}
		// A guest whose device hashes to id holds it: draw the next one.
		if !errors.Is(err, store.ErrExists) {
			return 0, err
		}
	}
	if _, err := m.accounts.Create(ctx, key, strconv.AppendInt(nil, id, 10)); err != nil {
		_ = m.accounts.Delete(context.WithoutCancel(ctx), userKey(id))
		if errors.Is(err, store.ErrExists) {
			owner, cerr := m.claimed(ctx, key)
			if cerr != nil {
				return 0, cerr
			}
			return owner, store.ErrExists
		}
		return 0, err
	}
	return id, nil
}

// claim points key at id for a link; it succeeds when the key already
// points at id, and returns store.ErrExists when it points elsewhere.
func (m *Module) claim(ctx context.Context, key string, id int64) error {
	_, err := m.accounts.Create(ctx, key, strconv.AppendInt(nil, id, 10))
	if errors.Is(err, store.ErrExists) {
		owner, cerr := m.claimed(ctx, key)
		if cerr != nil {
			return cerr
		}
		if owner == id {
			return nil
		}
	}
	return err
}
