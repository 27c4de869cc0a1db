package limit

import (
	"hash/maphash"
	"sync"
)

// shardCount is the number of shards of every zone's table: requests for
// different keys mostly take different locks, and no lock is held by
// more than one key's work at a time. A power of two, so the shard is a
// mask of the hash.
const shardCount = 16

// StateCost is what one state is charged against its zone's size, in
// bytes: 64 for a key of up to 16 bytes (an IPv4 or IPv6
// $binary_remote_addr), 48 plus the key's length beyond that. It follows
// nginx's figure, one megabyte for about 16 thousand 64-byte states: a
// zone of 1m holds 16384 address states. (Go's own overhead per state,
// map slot and list links included, is about twice that; the size bounds
// the number of states, which bounds the memory.)
func StateCost(keyLen int) int64 {
	if keyLen <= 16 {
		return 64
	}
	return 48 + int64(keyLen)
}

// table is a zone's states, S each, by key: shardCount shards of a map,
// each with its own mutex, a recency list and a byte budget of
// size/shardCount. It allocates only to insert a key.
type table[S any] struct {
	seed   maphash.Seed
	shards [shardCount]shard[S]
}

// shard is one lock's part of a table.
type shard[S any] struct {
	mu sync.Mutex // guards everything below, and the states of its entries
	m  map[string]*entry[S]
	// head is the sentinel of the recency list: head.next is the most
	// recently used entry, head.prev the least.
	head entry[S]
	// used is what the entries are charged (StateCost), budget the most
	// they may be charged.
	used, budget int64
	// pad keeps two shards' locks off one cache line.
	_ [64]byte
}

// entry is one key's state, in its shard's map and recency list.
type entry[S any] struct {
	key        string
	sh         *shard[S]
	prev, next *entry[S]
	state      S
}

// newTable returns an empty table whose shards share size bytes.
func newTable[S any](size int64) *table[S] {
	t := &table[S]{seed: maphash.MakeSeed()}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.m = make(map[string]*entry[S])
		sh.head.prev, sh.head.next = &sh.head, &sh.head
		sh.budget = size / shardCount
	}
	return t
}

// shardOf returns the shard of key.
func (t *table[S]) shardOf(key []byte) *shard[S] {
	return &t.shards[maphash.Bytes(t.seed, key)&(shardCount-1)]
}

// get returns the entry of key, or nil. The caller holds sh.mu. The
// lookup converts key without allocating.
func (sh *shard[S]) get(key []byte) *entry[S] {
	return sh.m[string(key)]
}

// touch makes e the most recently used entry.
func (sh *shard[S]) touch(e *entry[S]) {
	if sh.head.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	sh.pushFront(e)
}

func (sh *shard[S]) pushFront(e *entry[S]) {
	e.prev, e.next = &sh.head, sh.head.next
	sh.head.next.prev = e
	sh.head.next = e
}

// oldest returns the least recently used entry, or nil when the shard is
// empty.
func (sh *shard[S]) oldest() *entry[S] {
	if sh.head.prev == &sh.head {
		return nil
	}
	return sh.head.prev
}

// canFit reports whether a key of keyLen bytes could fit the shard at
// all: a key costlier than a shard's budget never does, and freeing
// every other state for it would only reset their limits.
func (sh *shard[S]) canFit(keyLen int) bool {
	return StateCost(keyLen) <= sh.budget
}

// fits reports whether a key of keyLen bytes fits the shard's remaining
// budget.
func (sh *shard[S]) fits(keyLen int) bool {
	return sh.used+StateCost(keyLen) <= sh.budget
}

// insert adds a zero state for key as the most recently used entry. The
// caller has checked that it fits and that key is absent.
func (sh *shard[S]) insert(key []byte) *entry[S] {
	e := &entry[S]{key: string(key), sh: sh}
	sh.m[e.key] = e
	sh.used += StateCost(len(key))
	sh.pushFront(e)
	return e
}

// unlink takes e out of the recency list, keeping it in the map; an
// unlinked entry is never freed by its shard.
func (sh *shard[S]) unlink(e *entry[S]) {
	if e.prev == nil {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// link puts an unlinked e back in the recency list, as the most recent.
func (sh *shard[S]) link(e *entry[S]) {
	if e.prev == nil {
		sh.pushFront(e)
	}
}

// remove deletes e from the shard.
func (sh *shard[S]) remove(e *entry[S]) {
	sh.unlink(e)
	delete(sh.m, e.key)
	sh.used -= StateCost(len(e.key))
}

// len returns the number of entries; the caller holds sh.mu.
func (sh *shard[S]) len() int { return len(sh.m) }
