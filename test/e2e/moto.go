//go:build e2e

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Moto is moto's EC2 API emulator (moto_server, from this machine's image)
// on a loopback port, behind a loopback proxy of the test's that records
// every request with this machine's clock (the clock of the plugin's
// report). The amazon-ebs builder talks to the proxy through
// `custom_endpoint_ec2`; nothing reaches AWS.
type Moto struct {
	Endpoint string // the proxy
	Region   string

	mu       sync.Mutex
	requests []MotoRequest
}

// motoClient bounds every call of the test's own to the emulator.
var motoClient = &http.Client{Timeout: 30 * time.Second}

// MotoCredentials are the dummy credentials every client of the emulator
// uses (moto checks no signature).
var MotoCredentials = []string{"AWS_ACCESS_KEY_ID=AKIAE2EMOTOEMULATOR0", "AWS_SECRET_ACCESS_KEY=e2e-moto-not-a-secret"}

// StartMoto starts moto_server on a free loopback port; the test's cleanup
// stops it. A machine without moto_server fails the test, saying so.
func StartMoto(t testing.TB, dir, region string) *Moto {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatalf("moto_server (python3 moto[server], part of this machine's image) is not on PATH: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	m := &Moto{Region: region}
	logf, err := os.Create(filepath.Join(dir, "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("moto_server: %v", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)})
	proxy.ErrorLog = log.New(io.Discard, "", 0) // moto_server starting: Call retries
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Endpoint = "http://" + listener.Addr().String()
	front := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.record(r)
		proxy.ServeHTTP(w, r)
	})}
	go front.Serve(listener)
	t.Cleanup(func() {
		front.Close()
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		if _, err := m.Call("DescribeRegions", nil); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s: %v (log: %s)", m.Endpoint, err, logf.Name())
		}
	}
	t.Logf("moto_server: EC2 API on %s", m.Endpoint)
	return m
}

// Call sends one EC2 Query API request and returns the XML answer. The
// Authorization header only carries the region (moto's state is per region).
func (m *Moto) Call(action string, params url.Values) ([]byte, error) {
	form := url.Values{"Action": {action}, "Version": {"2016-11-15"}}
	for k, v := range params {
		form[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, m.Endpoint+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAE2EMOTOEMULATOR0/20260101/"+m.Region+
		"/ec2/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := motoClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", action, resp.Status, body)
	}
	return body, nil
}

// describe sends one request and decodes its XML answer into resp.
func (m *Moto) describe(action string, params url.Values, resp any) error {
	body, err := m.Call(action, params)
	if err != nil {
		return err
	}
	return xml.Unmarshal(body, resp)
}

// ImportKeyPair imports the public key as an EC2 key pair.
func (m *Moto) ImportKeyPair(name string, key *Key) error {
	pub, err := os.ReadFile(key.Public)
	if err != nil {
		return err
	}
	_, err = m.Call("ImportKeyPair", url.Values{"KeyName": {name},
		"PublicKeyMaterial": {base64.StdEncoding.EncodeToString(pub)}})
	return err
}

// MotoImage is an AMI as DescribeImages gives it.
type MotoImage struct {
	ID    string `xml:"imageId"`
	Name  string `xml:"name"`
	State string `xml:"imageState"`
	Owner string `xml:"imageOwnerId"`
}

// Images lists the images DescribeImages gives for the parameters.
func (m *Moto) Images(params url.Values) ([]MotoImage, error) {
	var resp struct {
		Images []MotoImage `xml:"imagesSet>item"`
	}
	err := m.describe("DescribeImages", params, &resp)
	return resp.Images, err
}

// MotoInstance is an instance as DescribeInstances gives it.
type MotoInstance struct {
	ID      string `xml:"instanceId"`
	ImageID string `xml:"imageId"`
	State   string `xml:"instanceState>name"`
	KeyName string `xml:"keyName"`
}

// Instances lists every instance the emulator knows, terminated ones too.
func (m *Moto) Instances() ([]MotoInstance, error) {
	var resp struct {
		Instances []MotoInstance `xml:"reservationSet>item>instancesSet>item"`
	}
	err := m.describe("DescribeInstances", nil, &resp)
	return resp.Instances, err
}

// MotoRequest is one request the emulator served, in the order served.
type MotoRequest struct {
	Action string
	Params url.Values
	// At is when the proxy received it, on this machine's clock.
	At time.Time
}

// record keeps an EC2 Query API request (its form body, put back for the
// proxy).
func (m *Moto) record(r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return
	}
	params, err := url.ParseQuery(string(body))
	if err != nil || params.Get("Action") == "" {
		return // not an EC2 Query API call
	}
	m.mu.Lock()
	m.requests = append(m.requests, MotoRequest{Action: params.Get("Action"), Params: params, At: at})
	m.mu.Unlock()
}

// Requests are the EC2 API requests served so far, in order.
func (m *Moto) Requests() []MotoRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]MotoRequest(nil), m.requests...)
}

// KeyPair is an EC2 key pair with its public key.
type KeyPair struct {
	Name      string `xml:"keyName"`
	PublicKey string `xml:"publicKey"`
}

// KeyPairs lists the key pairs with their public keys.
func (m *Moto) KeyPairs() ([]KeyPair, error) {
	var resp struct {
		Pairs []KeyPair `xml:"keySet>item"`
	}
	err := m.describe("DescribeKeyPairs", url.Values{"IncludePublicKey": {"true"}}, &resp)
	return resp.Pairs, err
}
