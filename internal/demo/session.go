package demo

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
)

// Limits that keep a demo backend's memory bounded whatever clients do: a
// curl loop without a cookie jar creates a session per request.
const (
	maxSessions = 10000 // sessions kept; beyond it an arbitrary one is dropped
	maxCart     = 20    // items per cart
)

// sessionState says how a request's session was found. Its values appear
// verbatim in the plain-text response ("session=lost").
type sessionState string

const (
	stateNew      sessionState = "new"      // the request carried no session cookie
	stateExisting sessionState = "existing" // the cookie named a session this server holds
	stateLost     sessionState = "lost"     // the cookie named a session this server does not hold
)

// session is one user's state, living only in this server's memory.
type session struct {
	visits int
	cart   []string
	// lost is set when the session was created because the client's cookie
	// named a session unknown here. It stays set until a response has shown
	// it, so a browser that lands here with a POST still sees the warning
	// on the page it is redirected to.
	lost bool
}

// snapshot is a copy of a session taken under the store's lock, for a
// response to render without holding it.
type snapshot struct {
	id      string
	state   sessionState
	created bool // the response must set the session cookie
	visits  int
	cart    []string
}

// store holds the sessions of one run of a backend; Start makes a new one,
// which is how a restart loses them.
type store struct {
	// mu guards sessions and every *session in it: handlers on many
	// connections look sessions up and update them concurrently.
	mu       sync.Mutex
	sessions map[string]*session
}

func newStore() *store {
	return &store{sessions: make(map[string]*session)}
}

// use finds the session named id, or creates one if id is empty or unknown,
// applies fn to it under the lock and returns a snapshot taken after fn.
// fn's error is returned with the snapshot (the session is still created, so
// the caller should still set its cookie). If report is true, the response
// will show the snapshot's state, so a pending "lost" is cleared.
func (s *store) use(id string, report bool, fn func(*session) error) (snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	created := false
	if !ok {
		sess = &session{lost: id != ""}
		id = newSessionID()
		if len(s.sessions) >= maxSessions {
			for k := range s.sessions { // map order is random: evict an arbitrary session
				delete(s.sessions, k)
				break
			}
		}
		s.sessions[id] = sess
		created = true
	}
	var err error
	if fn != nil {
		err = fn(sess)
	}
	state := stateExisting
	switch {
	case sess.lost:
		state = stateLost
	case created:
		state = stateNew
	}
	if report {
		sess.lost = false
	}
	return snapshot{
		id:      id,
		state:   state,
		created: created,
		visits:  sess.visits,
		cart:    slices.Clone(sess.cart),
	}, err
}

// newSessionID returns 128 random bits in hex: unguessable, so one user
// cannot pick up another's session.
func newSessionID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand.Read crashes the program instead
	return hex.EncodeToString(b[:])
}
