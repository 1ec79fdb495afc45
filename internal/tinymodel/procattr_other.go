//go:build unix && !linux

package tinymodel

import "syscall"

// sysProcAttr puts `ollama serve` in its own process group so Stop reaches
// its runners.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
