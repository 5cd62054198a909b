package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// TestConsoleLoginSASLOnly: sluiced whose only Kafka listener is
// SASL_PLAINTEXT, with PLAIN users from sasl.plain.users.file: its console
// asks for a login, accepts the user's password, and creates a topic and
// produces to it as that user (in-process, with no listener it could
// reach without SASL).
func TestConsoleLoginSASLOnly(t *testing.T) {
	users := writeFile(t, "users", "alice=alice-pw\n")
	file := writeFile(t, "server.properties", "listeners=SASL_PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0\n"+
		"controller.listener.names=CONTROLLER\nsasl.enabled.mechanisms=PLAIN\nsasl.plain.users.file="+users+"\n")
	p := start(t, nil, "--config", file, "--data-dir", t.TempDir(), "--http-listen", "127.0.0.1:0")
	base := "http://" + p.waitLog("http listening")["addr"].(string)
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		u, _ := url.Parse(base)
		for _, c := range jar.Cookies(u) {
			if c.Name == "sluice_csrf" {
				req.Header.Set("X-Sluice-CSRF", c.Value)
			}
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(data, &out)
		return resp.StatusCode, out
	}
	if code, out := call("GET", "/api/topics", ""); code != 401 {
		t.Fatalf("topics before login: %d %v", code, out)
	}
	call("GET", "/api/csrf", "")
	if code, out := call("POST", "/api/login", `{"user":"alice","password":"wrong"}`); code != 401 {
		t.Fatalf("wrong password: %d %v", code, out)
	}
	if code, out := call("POST", "/api/login", `{"user":"alice","password":"alice-pw"}`); code != 200 || out["principal"] != "User:alice" {
		t.Fatalf("login: %d %v", code, out)
	}
	if code, out := call("POST", "/api/topics", `{"name":"t1","partitions":2}`); code != 201 {
		t.Fatalf("create topic: %d %v", code, out)
	}
	if code, out := call("POST", "/api/topics/t1/records", `{"partition":1,"value":"hello"}`); code != 201 || out["offset"] != float64(0) {
		t.Fatalf("produce: %d %v", code, out)
	}
	if code, out := call("GET", "/api/topics/t1/records?partition=1", ""); code != 200 || !strings.Contains(toJSON(out), `"hello"`) {
		t.Fatalf("records: %d %v", code, out)
	}
	p.stop()
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
