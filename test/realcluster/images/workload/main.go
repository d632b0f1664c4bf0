// Command workload is the test workload of the real-cluster suite: it reports what the pod itself
// sees at start, its environment and the files of the directories named in WORKLOAD_DIRS (a
// colon-separated list), as one line
//
//	WORKLOAD {"env":{"NAME":"value",...},"files":{"/dir/name":"content",...}}
//
// on stdout (read with `kubectl logs`), then waits for SIGTERM.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// Report is what the workload prints.
type Report struct {
	Env   map[string]string `json:"env"`
	Files map[string]string `json:"files"`
	// Errors lists directories or files that could not be read.
	Errors []string `json:"errors,omitempty"`
}

func main() {
	r := Report{Env: map[string]string{}, Files: map[string]string{}}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		r.Env[k] = v
	}
	for dir := range strings.SplitSeq(os.Getenv("WORKLOAD_DIRS"), ":") {
		if dir != "" {
			readDir(&r, dir)
		}
	}
	line, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("WORKLOAD %s\n", line)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// readDir reads the files of dir. A ConfigMap volume holds each key as a symlink into a hidden
// "..data" directory; the hidden entries are skipped and the links followed.
func readDir(r *Report, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		r.Files[p] = string(data)
	}
}
