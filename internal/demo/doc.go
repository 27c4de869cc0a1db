// Package demo holds the pieces of `limpet demo`: small application servers
// that keep their sessions in their own memory, and a control page that
// stops and starts them.
//
// The demo exists to make the failure that sticky sessions guard against
// visible. Each Backend stores a visit counter and a cart per session in a
// map in its own process memory, exactly the kind of state that is lost when
// a user is sent to another server. Behind limpet, the SERVERID cookie keeps
// a browser on one backend and the counter grows; stopping that backend on
// the control page makes limpet fail over to the other one, which does not
// know the session and says so.
//
// Stop simulates a crash rather than a graceful shutdown (it closes the
// listener and every open connection at once, and drops the sessions), so
// the demo shows what a real outage costs. Start listens again on the same
// address, as a restarted process would.
//
// The package uses only the standard library and makes no outbound requests:
// pages are self-contained, with inline CSS and no external assets.
package demo
