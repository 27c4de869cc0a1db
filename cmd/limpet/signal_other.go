//go:build !unix

package main

import (
	"errors"
	"syscall"
)

// Systems without SIGUSR1 and SIGUSR2 never deliver these values (Go
// numbers its own signals there from 1 to 15): reopening the logs and
// changing the binary need Unix signals.
const (
	sigReopen  = syscall.Signal(30)
	sigUpgrade = syscall.Signal(31)
)

// kill is -s, which needs Unix signals.
func kill(pid int, sig syscall.Signal) error {
	return errors.New("sending signals is not supported on this system")
}
