package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"text/template"
	"time"

	"github.com/postr-inc/hapta/internal/benchserver"
)

// nginxConfig is the microcaching PocketBase's maintainer recommends
// (pocketbase/pocketbase#2850): answers of 200 kept for one second, one
// request to the server per expired entry, and requests with a token
// neither answered from the cache nor cached. Everything nginx writes stays
// in Dir, so that it runs without root too.
var nginxConfig = template.Must(template.New("nginx.conf").Parse(`{{if .Root}}user root;
{{end}}daemon off;
master_process on;
worker_processes auto;
pid "{{.Dir}}/nginx.pid";
error_log "{{.Dir}}/error.log" error;

events {
	worker_connections 4096;
}

http {
	access_log off;
	client_body_temp_path "{{.Dir}}/client_body";
	proxy_temp_path "{{.Dir}}/proxy";
	fastcgi_temp_path "{{.Dir}}/fastcgi";
	uwsgi_temp_path "{{.Dir}}/uwsgi";
	scgi_temp_path "{{.Dir}}/scgi";
	proxy_cache_path "{{.Dir}}/cache" levels=1:2 keys_zone=microcache:10m max_size=256m inactive=1m use_temp_path=off;

	# the benchmark's client keeps its connections for the whole run, as
	# it does with PocketBase, which has no limit (nginx's is 1,000)
	keepalive_requests 1000000;

	gzip on;
	gzip_types application/json;
	gzip_proxied any;

	upstream pocketbase {
		server {{.Upstream}};
		keepalive {{.Keepalive}};
		keepalive_requests 1000000;
	}

	server {
		listen 127.0.0.1:{{.Port}};

		location / {
			proxy_pass http://pocketbase;
			proxy_http_version 1.1;
			proxy_set_header Connection "";

			proxy_cache microcache;
			proxy_cache_key $scheme$request_method$host$request_uri;
			proxy_cache_valid 200 1s;
			proxy_cache_lock on;
			proxy_cache_use_stale updating;
			proxy_cache_bypass $http_authorization;
			proxy_no_cache $http_authorization;
		}
	}
}
`))

// nginx is a running nginx before a server.
type nginx struct {
	base string // http://127.0.0.1:port
	cmd  *exec.Cmd
	done chan error // its exit
	dir  string
}

// startNginx runs nginx on a free loopback port before upstream
// (127.0.0.1:port) with a configuration in a temporary folder, and waits
// until it answers.
func startNginx(binary, upstream string, concurrency int) (*nginx, error) {
	dir, err := os.MkdirTemp("", "cachebench-nginx")
	if err != nil {
		return nil, err
	}
	port, err := benchserver.FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var config bytes.Buffer
	_ = nginxConfig.Execute(&config, map[string]any{
		// as root, the workers would run as nobody, who cannot write into
		// the folder
		"Root": os.Geteuid() == 0, "Dir": dir, "Upstream": upstream, "Port": port, "Keepalive": 2 * concurrency,
	})
	configPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(configPath, config.Bytes(), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// -e: the error log before the configuration is read
	cmd := exec.Command(binary, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", configPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	n := &nginx{base: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan error, 1), dir: dir}
	go func() { n.done <- cmd.Wait() }()
	if err := n.waitHealthy(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		n.stop()
		return nil, fmt.Errorf("nginx: %w\n%s", err, log)
	}
	return n, nil
}

func (n *nginx) waitHealthy() error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-n.done:
			n.done <- err // for stop
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if res, err := http.Get(n.base + "/api/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("nginx did not answer")
}

// stop shuts nginx down gracefully (SIGQUIT), quickly (SIGTERM) if it takes
// too long, and removes its folder.
func (n *nginx) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		<-n.done
	}
	os.RemoveAll(n.dir)
}
