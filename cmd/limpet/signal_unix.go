//go:build unix

package main

import "syscall"

// nginx's signals for reopening the logs and changing the binary.
const (
	sigReopen  = syscall.SIGUSR1
	sigUpgrade = syscall.SIGUSR2
)

// kill sends sig to the process pid.
func kill(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }
