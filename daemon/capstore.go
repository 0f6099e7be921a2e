package daemon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/store"
)

// SecretStore is where the daemon keeps its capabilities (one sealed entry,
// capKey): the secret store, whose integrity rules apply (each entry is
// sealed and bound to its name, written atomically and read back).
type SecretStore interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte) error
}

// setAsider is a store that can move a damaged entry out of the way, so
// that it is kept and never overwritten (store.Sealed).
type setAsider interface {
	SetAside(ctx context.Context, key string) (string, error)
}

// capKey is the store entry of the capabilities.
const capKey = "capabilities"

// loadRetry is how often the daemon asks a store that failed again, when a
// capability is presented before the saved ones could be read.
const loadRetry = 5 * time.Second

// lastUseGrain is how stale a saved last use may be: a use is saved once
// the saved one is older than this (by the saver, every saveEvery).
const (
	lastUseGrain = time.Minute
	saveEvery    = 30 * time.Second
)

// capFile is the stored form of the capabilities: no secret, only each
// one's SHA-256 and what it is for.
type capFile struct {
	Version      int         `json:"version"`
	Capabilities []capRecord `json:"capabilities"`
}

type capRecord struct {
	ID       string   `json:"id"`
	SHA256   string   `json:"sha256"`
	Profile  string   `json:"profile"`
	Kind     string   `json:"kind"`
	Label    string   `json:"label,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	Hosts    []string `json:"hosts,omitempty"`
	UID      int      `json:"uid"` // -1: unknown
	Created  int64    `json:"created"`
	Expires  int64    `json:"expires"`
	LastUsed int64    `json:"last_used,omitempty"`
}

// capPersistence is the state of the capabilities' store entry.
type capPersistence struct {
	loaded atomic.Bool // the saved ones are in memory (or there is no store)

	// mu serializes loads and saves, so that nothing is saved before the
	// saved ones were read (which would lose them), and saves land in
	// order. It is taken before capabilities.mu.
	mu       sync.Mutex
	lastFail time.Time // of the last load that failed
	loadErr  error
	setAside string // where a damaged entry was moved, for the list's warning

	// Guarded by capabilities.mu:
	dirty        bool             // a change not saved yet
	savedUses    map[string]int64 // the last uses saved, by id
	dropProfiles map[string]bool  // revoked while the saved ones could not be read
}

// load reads the saved capabilities once; until it succeeds it is retried
// at most every loadRetry. A damaged entry (not sealed by this key, cut
// short, not JSON) is set aside and logged, and the daemon goes on without
// those capabilities; a store that does not work (locked keychain, wrong
// key, unreadable disk) is an error, and nothing is saved meanwhile.
func (cs *capabilities) load(ctx context.Context) error {
	p := &cs.persist
	if p.loaded.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded.Load() {
		return nil
	}
	now := time.Now()
	if p.loadErr != nil && now.Sub(p.lastFail) < loadRetry {
		return p.loadErr
	}
	recs, err := cs.read(ctx)
	if err != nil {
		p.lastFail, p.loadErr = now, err
		cs.log.Error("cannot read the saved capabilities: URLs handed out before are refused until the store works (tokend retries)", "err", err)
		return err
	}
	p.loadErr = nil
	cs.mu.Lock()
	clockNow := cs.clock.Now()
	minted := len(cs.byID) // in memory while the store failed
	if p.savedUses == nil {
		p.savedUses = map[string]int64{}
	}
	for _, r := range recs {
		c, err := r.capability()
		if err != nil {
			cs.log.Warn("saved capability skipped", "capability", r.ID, "err", err)
			continue
		}
		if !clockNow.Before(c.expires) || cs.byID[c.id] != nil {
			continue
		}
		if p.dropProfiles[c.profile] {
			p.dirty = true
			continue
		}
		cs.byID[c.id] = c
		p.savedUses[c.id] = r.LastUsed
	}
	if minted > 0 {
		p.dirty = true
	}
	p.dropProfiles = nil
	stale := p.dirty
	n := len(cs.byID)
	cs.mu.Unlock()
	p.loaded.Store(true)
	cs.log.Debug("capabilities loaded", "count", n)
	if stale {
		go cs.flush(context.WithoutCancel(ctx))
	}
	return nil
}

// read returns the saved records. p.mu is held.
func (cs *capabilities) read(ctx context.Context) ([]capRecord, error) {
	data, err := cs.store.Get(ctx, capKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err == nil {
		var f capFile
		if err = json.Unmarshal(data, &f); err == nil && f.Version != 1 {
			err = fmt.Errorf("version %d, want 1 (written by a newer tokend?)", f.Version)
		}
		if err == nil {
			return f.Capabilities, nil
		}
		err = fmt.Errorf("%w: %w", store.ErrCorrupt, err)
	}
	if !errors.Is(err, store.ErrCorrupt) {
		return nil, err
	}
	sa, ok := cs.store.(setAsider)
	if !ok {
		return nil, err
	}
	where, serr := sa.SetAside(ctx, capKey)
	if serr != nil {
		return nil, fmt.Errorf("the saved capabilities are damaged (%w), and cannot be set aside: %w", err, serr)
	}
	cs.persist.setAside = where
	cs.log.Error("the saved capabilities are damaged and were set aside: URLs handed out before no longer work; run `token env` and `token databricks configure` again", "err", err, "moved_to", where)
	return nil, nil
}

// setAsideNote says, for the list, where a damaged entry went.
func (cs *capabilities) setAsideNote() string {
	cs.persist.mu.Lock()
	defer cs.persist.mu.Unlock()
	if cs.persist.setAside == "" {
		return ""
	}
	return "the saved capabilities were damaged and set aside at " + cs.persist.setAside + ": those minted before no longer work (run `token env`, `token databricks configure` again)"
}

func (r capRecord) capability() (*capability, error) {
	h, err := hex.DecodeString(r.SHA256)
	if err != nil || len(h) != 32 || r.ID == "" || r.Profile == "" {
		return nil, errors.New("malformed record")
	}
	switch capKind(r.Kind) {
	case capEnv, capExec, capDatabricks:
	default:
		return nil, fmt.Errorf("unknown kind %q", r.Kind)
	}
	c := &capability{
		id: r.ID, profile: r.Profile, kind: capKind(r.Kind), label: r.Label,
		scopes: r.Scopes, hosts: r.Hosts, uid: r.UID,
		created: time.Unix(r.Created, 0), expires: time.Unix(r.Expires, 0),
	}
	copy(c.hash[:], h)
	c.lastUsed.Store(r.LastUsed)
	return c, nil
}

// save writes the live capabilities to the store (once the saved ones are
// loaded: never over them).
func (cs *capabilities) save(ctx context.Context) error {
	if cs.store == nil {
		return nil
	}
	p := &cs.persist
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded.Load() {
		return errors.New("the saved capabilities are not loaded")
	}
	cs.mu.Lock()
	cs.sweep(cs.clock.Now())
	f := capFile{Version: 1, Capabilities: make([]capRecord, 0, len(cs.byID))}
	uses := make(map[string]int64, len(cs.byID))
	for _, c := range cs.byID {
		r := capRecord{
			ID: c.id, SHA256: hex.EncodeToString(c.hash[:]), Profile: c.profile, Kind: string(c.kind),
			Label: c.label, Scopes: c.scopes, Hosts: c.hosts, UID: c.uid,
			Created: c.created.Unix(), Expires: c.expires.Unix(), LastUsed: c.lastUsed.Load(),
		}
		uses[c.id] = r.LastUsed
		f.Capabilities = append(f.Capabilities, r)
	}
	p.dirty = true // until the write succeeds
	cs.mu.Unlock()
	data, err := json.Marshal(f)
	if err == nil {
		err = cs.store.Set(ctx, capKey, data)
	}
	if err != nil {
		return err
	}
	cs.mu.Lock()
	p.dirty, p.savedUses = false, uses
	cs.mu.Unlock()
	return nil
}

// stale reports whether the saved capabilities lag behind: a change not
// saved, or a use newer than lastUseGrain past the saved one.
func (cs *capabilities) stale() bool {
	if cs.store == nil || !cs.persist.loaded.Load() {
		return false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.persist.dirty {
		return true
	}
	for id, c := range cs.byID {
		if u := c.lastUsed.Load(); u-cs.persist.savedUses[id] >= int64(lastUseGrain/time.Second) {
			return true
		}
	}
	return false
}

// flush saves what is stale. Failures are logged: the saver tries again.
func (cs *capabilities) flush(ctx context.Context) {
	if !cs.stale() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cs.save(ctx); err != nil {
		cs.log.Warn("cannot save the capabilities (tokend retries)", "err", err)
	}
}

// saver saves changes that no request waited for (last uses, a failed
// save, capabilities minted while the store failed) every saveEvery, and
// once more when ctx ends.
func (cs *capabilities) saver(ctx context.Context) {
	t := time.NewTicker(saveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			cs.flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			cs.flush(ctx)
		}
	}
}
