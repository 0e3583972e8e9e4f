package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startEmbedded starts a NATS server with JetStream in process, listening
// on listen (host:port), its store in storeDir. It requires the clients'
// NATS_USER and NATS_PASSWORD, or NATS_TOKEN, when getenv has them, and
// refuses to listen beyond loopback without them: whoever reaches it could
// forge the primary's messages.
func startEmbedded(listen, storeDir string, getenv func(string) string) (*server.Server, error) {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS listen address %q: bad port", listen)
	}
	options := &server.Options{
		ServerName:    "hapta-primary",
		Host:          host,
		Port:          port,
		JetStream:     true,
		StoreDir:      storeDir,
		NoSigs:        true,
		Username:      getenv("NATS_USER"),
		Password:      getenv("NATS_PASSWORD"),
		Authorization: getenv("NATS_TOKEN"),
	}
	if ip := net.ParseIP(host); options.Username == "" && options.Authorization == "" && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return nil, fmt.Errorf("the embedded NATS server would listen on %s without authentication: set NATS_USER and NATS_PASSWORD, or NATS_TOKEN, on every node", listen)
	}
	s, err := server.NewServer(options)
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("the embedded NATS server did not start within 10s")
	}
	return s, nil
}

// connect connects to servers, reconnecting forever; the credentials and
// TLS files come from the environment (see connectOptionsFromEnv). Status
// changes are logged and passed to onStatus (true: connected).
func connect(servers []string, name string, logger *slog.Logger, onStatus func(bool)) (*nats.Conn, error) {
	options := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// nothing is sent late: a heartbeat or a login state queued while
		// disconnected would be stale, or taken twice, when it arrives
		nats.ReconnectBufSize(-1),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(2 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("cluster: NATS disconnected", "error", err)
			onStatus(false)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("cluster: NATS reconnected", "server", c.ConnectedUrlRedacted())
			onStatus(true)
		}),
		nats.ConnectHandler(func(c *nats.Conn) {
			logger.Info("cluster: NATS connected", "server", c.ConnectedUrlRedacted())
			onStatus(true)
		}),
	}
	fromEnv, err := connectOptionsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	options = append(options, fromEnv...)
	return nats.Connect(strings.Join(servers, ","), options...)
}

// connectOptionsFromEnv reads NATS credentials and TLS files from the
// environment, never from hapta-config.json: NATS_CREDS (a .creds file),
// NATS_NKEY (an nkey seed file), NATS_USER and NATS_PASSWORD, NATS_TOKEN,
// NATS_CA (a CA bundle), NATS_CERT and NATS_KEY (a client certificate).
func connectOptionsFromEnv(getenv func(string) string) ([]nats.Option, error) {
	var options []nats.Option
	if creds := getenv("NATS_CREDS"); creds != "" {
		options = append(options, nats.UserCredentials(creds))
	}
	if seed := getenv("NATS_NKEY"); seed != "" {
		option, err := nats.NkeyOptionFromSeed(seed)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY: %w", err)
		}
		options = append(options, option)
	}
	if user := getenv("NATS_USER"); user != "" {
		options = append(options, nats.UserInfo(user, getenv("NATS_PASSWORD")))
	}
	if token := getenv("NATS_TOKEN"); token != "" {
		options = append(options, nats.Token(token))
	}
	if ca := getenv("NATS_CA"); ca != "" {
		options = append(options, nats.RootCAs(ca))
	}
	if cert, key := getenv("NATS_CERT"), getenv("NATS_KEY"); cert != "" && key != "" {
		options = append(options, nats.ClientCert(cert, key))
	}
	return options, nil
}
