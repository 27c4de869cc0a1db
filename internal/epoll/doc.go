// Package epoll is an epoll instance of limpet's own, read through Go's
// netpoller, so that no thread blocks on it: the one place that creates
// such an instance and drains its events. h1srv parks idle client
// connections in one (level-triggered, one-shot), h1 watches pooled
// upstream connections for their servers' close in another
// (edge-triggered). Linux only: elsewhere the package is empty and its
// users keep their portable behaviour.
package epoll
