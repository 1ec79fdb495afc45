package tinymodel

import "syscall"

// sysProcAttr puts `ollama serve` in its own process group (so Stop reaches
// its runners) and kills it if this process dies without calling Stop.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
