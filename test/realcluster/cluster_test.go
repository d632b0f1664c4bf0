package realcluster

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/statsig-operator/statsig-operator/internal/testenv"
)

// The cluster's addresses, inside its own network namespace: the node, the API server's Service IP
// (a local address of the node, so pods reach the API server without kube-proxy), and the pod range.
const (
	nodeIP     = "192.0.2.2"
	serviceIP  = "10.96.0.1"
	podSubnet  = "10.244.0.0/24"
	nodeName   = "realcluster-node"
	apiURL     = "https://" + nodeIP + ":443"
	imageNS    = "k8s.io"
	bridgeName = "rc0"
)

// Environment the suite reads; `make test` sets all of them.
const (
	// envOptOut, set to "skip", skips the suite on a machine that cannot run it (not root, no network
	// namespaces). Unset, such a machine fails the suite.
	envOptOut = "STATSIG_OPERATOR_REALCLUSTER"
	// envClusterBinaries is the directory hack/cluster-binaries.sh prints (kubelet,
	// kube-controller-manager, kube-scheduler, kubectl).
	envClusterBinaries = "STATSIG_OPERATOR_CLUSTER_BINARIES"
	// envImages is a directory with the image tarballs `make image test-images` writes.
	envImages = "STATSIG_OPERATOR_IMAGES"
)

// The image tarballs in envImages.
const (
	operatorImageTar = "statsig-operator-image.tar"
	pauseImageTar    = "realcluster-pause.tar"
	workloadImageTar = "realcluster-workload.tar"
)

// cluster is a single-node Kubernetes cluster whose Pods run, in a network namespace of its own.
type cluster struct {
	t          testing.TB
	dir        string
	ns         netns
	bins       map[string]string
	holder     *exec.Cmd
	holderMnt  string
	procs      []*daemon
	cgroupRoot string
	sock       string
	cniName    string
	images     map[string]string // tarball file name → image reference

	kubeconfig string
	rest       *rest.Config
	client     client.Client
	clientset  kubernetes.Interface
}

type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// requireHost fails (or, with the documented opt-out, skips) when the machine cannot run a cluster.
func requireHost(t *testing.T) map[string]string {
	t.Helper()
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "the suite must run as root (network namespaces, mounts, containerd, kubelet)")
	}
	for _, c := range []string{"ip", "nsenter", "containerd", "ctr", "runc", "mount"} {
		if _, err := exec.LookPath(c); err != nil {
			problems = append(problems, c+" not found on PATH (hack/cluster-binaries.sh installs the packages)")
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		problems = append(problems, "/usr/lib/cni/bridge missing (package containernetworking-plugins)")
	}
	bins := map[string]string{}
	need := func(env string, names ...string) {
		dir := os.Getenv(env)
		if dir == "" {
			problems = append(problems, env+" is not set")
			return
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", env, err))
			}
			bins[n] = p
		}
	}
	need("KUBEBUILDER_ASSETS", "etcd", "kube-apiserver")
	need(envClusterBinaries, "kubelet", "kube-controller-manager", "kube-scheduler", "kubectl")
	need(envImages, operatorImageTar, pauseImageTar, workloadImageTar)
	if len(problems) == 0 {
		if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
			problems = append(problems, fmt.Sprintf("network namespaces unavailable: %v: %s", err, out))
		}
	}
	if len(problems) > 0 {
		msg := "the real-cluster suite cannot run here:\n  " + strings.Join(problems, "\n  ") +
			"\nRun it through `make test` (as root), or set " + envOptOut + "=skip to opt out on a developer machine."
		if os.Getenv(envOptOut) == "skip" {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	return bins
}

// startCluster starts the cluster and registers its tear-down, which runs even when the test fails.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	bins := requireHost(t)
	id := strconv.Itoa(os.Getpid())
	c := &cluster{
		t: t, bins: bins, dir: t.TempDir(),
		ns:         netns{name: "statsig-rc-" + id, path: "/run/netns/statsig-rc-" + id},
		cgroupRoot: "statsig-rc-" + id,
		cniName:    "statsig-rc-" + id,
		images:     map[string]string{},
	}
	t.Cleanup(c.teardown)
	start := time.Now()
	steps := []struct {
		name string
		f    func() error
	}{
		{"network namespace", c.makeNetns},
		{"certificates", c.makePKI},
		{"mount holder", c.startHolder},
		{"cgroups", c.makeCgroups},
		{"etcd and kube-apiserver", c.startControlPlane},
		{"containerd", c.startContainerd},
		{"images", c.importImages},
		{"kubelet, controller-manager, scheduler", c.startNode},
	}
	for _, s := range steps {
		if err := s.f(); err != nil {
			c.dumpLogs()
			t.Fatalf("cluster: %s: %v", s.name, err)
		}
	}
	t.Logf("FIGURE cluster-start-to-node-ready %.1f", time.Since(start).Seconds())
	return c
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (c *cluster) makeNetns() error {
	if err := run("ip", "netns", "add", c.ns.name); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		// This kernel has no dummy driver; a bridge without ports carries the node's addresses.
		{"link", "add", bridgeName, "type", "bridge"},
		{"addr", "add", nodeIP + "/24", "dev", bridgeName},
		{"addr", "add", serviceIP + "/32", "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
	} {
		if err := run("ip", append([]string{"-n", c.ns.name}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.dir}, parts...)...)
}

func (c *cluster) makePKI() error {
	if err := os.MkdirAll(c.path("pki"), 0o700); err != nil {
		return err
	}
	p, err := newPKI(c.path("pki"))
	if err != nil {
		return err
	}
	ips := []net.IP{net.ParseIP(nodeIP), net.ParseIP(serviceIP), net.ParseIP("127.0.0.1")}
	dns := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}
	certs := []struct {
		name, cn string
		orgs     []string
		ips      []net.IP
		dns      []string
	}{
		{"apiserver", "kube-apiserver", nil, ips, dns},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil},
		{"admin", "realcluster-admin", []string{"system:masters"}, nil, nil},
		{"kubelet", "system:node:" + nodeName, []string{"system:nodes"}, nil, nil},
		{"controller-manager", "system:kube-controller-manager", nil, nil, nil},
		{"scheduler", "system:kube-scheduler", nil, nil, nil},
		// The service-account signing key pair; only the key is used.
		{"sa", "service-accounts", nil, nil, nil},
	}
	for _, ct := range certs {
		if err := p.issue(ct.name, ct.cn, ct.orgs, ct.ips, ct.dns); err != nil {
			return err
		}
	}
	for _, who := range []string{"admin", "kubelet", "controller-manager", "scheduler"} {
		if err := c.writeKubeconfig(who); err != nil {
			return err
		}
	}
	c.kubeconfig = c.path("admin.kubeconfig")
	c.rest = &rest.Config{
		Host: apiURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: c.path("pki", "ca.crt"), CertFile: c.path("pki", "admin.crt"), KeyFile: c.path("pki", "admin.key"),
		},
		Dial: c.ns.DialContext, QPS: 50, Burst: 100, Timeout: 30 * time.Second,
	}
	if c.client, err = client.New(c.rest, client.Options{Scheme: testenv.Scheme}); err != nil {
		return err
	}
	c.clientset, err = kubernetes.NewForConfig(c.rest)
	return err
}

func (c *cluster) writeKubeconfig(who string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["realcluster"] = &clientcmdapi.Cluster{Server: apiURL, CertificateAuthority: c.path("pki", "ca.crt")}
	cfg.AuthInfos[who] = &clientcmdapi.AuthInfo{ClientCertificate: c.path("pki", who+".crt"), ClientKey: c.path("pki", who+".key")}
	cfg.Contexts["realcluster"] = &clientcmdapi.Context{Cluster: "realcluster", AuthInfo: who}
	cfg.CurrentContext = "realcluster"
	return clientcmd.WriteToFile(*cfg, c.path(who+".kubeconfig"))
}

// startHolder starts the process whose mount namespace every daemon shares. `ip netns exec` mounts a
// fresh sysfs over /sys, which hides the cgroup hierarchies; the holder mounts them again as PID 1
// sees them, then sleeps until killed.
func (c *cluster) startHolder() error {
	script, err := cgroupMountScript()
	if err != nil {
		return err
	}
	c.holder = exec.Command("ip", "netns", "exec", c.ns.name, "sh", "-ec", script+"echo mounted\nexec sleep infinity\n")
	out, err := c.holder.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	c.holder.Stderr = &stderr
	c.holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.holder.Start(); err != nil {
		return err
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "mounted" {
		return fmt.Errorf("holder did not mount the cgroup hierarchies: %s", stderr.String())
	}
	c.holderMnt, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", c.holder.Process.Pid))
	return err
}

// cgroupMountScript mounts /sys/fs/cgroup as /proc/1/mounts shows it.
func cgroupMountScript() (string, error) {
	data, err := os.ReadFile("/proc/1/mounts")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[1], "/sys/fs/cgroup") {
			continue
		}
		fmt.Fprintf(&b, "mkdir -p %s\nmount -t %s -o %s %s %s\n", f[1], f[2], f[3], f[0], f[1])
	}
	if b.Len() == 0 {
		return "", errors.New("no cgroup hierarchies in /proc/1/mounts")
	}
	return b.String(), nil
}

// cgroupHierarchies are the cgroup v1 mount points of the host.
func cgroupHierarchies() []string {
	data, _ := os.ReadFile("/proc/1/mounts")
	var dirs []string
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[2] == "cgroup" || f[2] == "cgroup2") {
			dirs = append(dirs, f[1])
		}
	}
	return dirs
}

// makeCgroups creates the kubelet's cgroup root, so that its pods' cgroups stay apart from anything
// else on the machine.
func (c *cluster) makeCgroups() error {
	for _, h := range cgroupHierarchies() {
		d := filepath.Join(h, c.cgroupRoot)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), v, 0o644); err != nil {
					return fmt.Errorf("%s: %w", filepath.Join(d, f), err)
				}
			}
		}
	}
	return nil
}

// start runs a daemon in the holder's mount and network namespaces.
func (c *cluster) start(name string, args ...string) error { return c.startEnv(name, nil, args...) }

// startEnv is start with more environment variables.
func (c *cluster) startEnv(name string, env []string, args ...string) error {
	logPath := c.path("logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	pid := strconv.Itoa(c.holder.Process.Pid)
	cmd := exec.Command("nsenter", append([]string{"-t", pid, "-m", "-n", "--"}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return err
	}
	d := &daemon{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(d.done) }()
	c.procs = append(c.procs, d)
	return nil
}

// waitFor polls ok until it returns nil, for at most limit.
func waitFor(limit time.Duration, what string, ok func() error) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ok()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not within %s: %w", what, limit, err)
		}
		<-tick.C
	}
}

func (c *cluster) startControlPlane() error {
	pki := func(f string) string { return c.path("pki", f) }
	if err := c.start("etcd", c.bins["etcd"], "--data-dir", c.path("etcd"),
		"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380", "--unsafe-no-fsync"); err != nil {
		return err
	}
	if err := c.start("kube-apiserver", c.bins["kube-apiserver"],
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0", "--secure-port=443", "--advertise-address="+nodeIP,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--tls-cert-file="+pki("apiserver.crt"), "--tls-private-key-file="+pki("apiserver.key"),
		"--client-ca-file="+pki("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki("sa.key"), "--service-account-signing-key-file="+pki("sa.key"),
		"--authorization-mode=Node,RBAC",
		"--kubelet-client-certificate="+pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+pki("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true",
		"--enable-admission-plugins=NodeRestriction"); err != nil {
		return err
	}
	return waitFor(90*time.Second, "kube-apiserver /readyz", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	})
}

func (c *cluster) containerdDir(parts ...string) string {
	return c.path(append([]string{"containerd"}, parts...)...)
}

func (c *cluster) startContainerd() error {
	c.sock = c.containerdDir("containerd.sock")
	for _, d := range []string{c.containerdDir("root"), c.containerdDir("state"), c.containerdDir("opt"), c.containerdDir("runc"),
		c.path("cni", "net.d"), c.path("cni", "ipam")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	cni := map[string]any{
		"cniVersion": "0.4.0", "name": c.cniName,
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
			"ipam": map[string]any{
				"type": "host-local", "dataDir": c.path("cni", "ipam"),
				"ranges": [][]map[string]string{{{"subnet": podSubnet}}},
				"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
			},
		}},
	}
	data, err := json.Marshal(cni)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.path("cni", "net.d", "10-realcluster.conflist"), data, 0o644); err != nil {
		return err
	}
	pause, err := imageRef(filepath.Join(os.Getenv(envImages), pauseImageTar))
	if err != nil {
		return err
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, c.containerdDir("root"), c.containerdDir("state"), c.sock, c.containerdDir("opt"), pause,
		c.containerdDir("runc"), c.path("cni", "net.d"))
	if err := os.WriteFile(c.containerdDir("config.toml"), []byte(config), 0o644); err != nil {
		return err
	}
	if err := c.start("containerd", "containerd", "--config", c.containerdDir("config.toml")); err != nil {
		return err
	}
	return waitFor(60*time.Second, "containerd", func() error { return c.ctr("version") })
}

func (c *cluster) ctr(args ...string) error {
	return run("ctr", append([]string{"--address", c.sock, "-n", imageNS}, args...)...)
}

func (c *cluster) ctrOutput(args ...string) (string, error) {
	out, err := exec.Command("ctr", append([]string{"--address", c.sock, "-n", imageNS}, args...)...).Output()
	return string(out), err
}

func (c *cluster) importImages() error {
	for _, f := range []string{pauseImageTar, workloadImageTar, operatorImageTar} {
		p := filepath.Join(os.Getenv(envImages), f)
		ref, err := imageRef(p)
		if err != nil {
			return err
		}
		if err := c.ctr("images", "import", p); err != nil {
			return err
		}
		c.images[f] = ref
	}
	return nil
}

// imageRef is the name an OCI layout tarball gives its image (containerd's annotation).
func imageRef(tarPath string) (string, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("%s: no index.json: %w", tarPath, err)
		}
		if h.Name != "index.json" {
			continue
		}
		var idx struct {
			Manifests []struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"manifests"`
		}
		if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&idx); err != nil {
			return "", err
		}
		for _, m := range idx.Manifests {
			if n := m.Annotations["io.containerd.image.name"]; n != "" {
				return n, nil
			}
		}
		return "", fmt.Errorf("%s: index.json names no image", tarPath)
	}
}

func (c *cluster) startNode() error {
	kubeletDir := c.path("kubelet")
	for _, d := range []string{kubeletDir, c.path("pod-logs"), c.path("kubelet-pki"), c.path("volume-plugins")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(c.path("resolv.conf"), []byte("nameserver "+nodeIP+"\n"), 0o644); err != nil {
		return err
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: /%s
containerRuntimeEndpoint: unix://%s
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %s}
authorization: {mode: Webhook}
resolvConf: %s
podLogsDir: %s
volumePluginDir: %s
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", nodefs.inodesFree: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
syncFrequency: 10s
fileCheckFrequency: 10s
`, c.cgroupRoot, c.sock, nodeIP, c.path("pki", "ca.crt"), c.path("resolv.conf"), c.path("pod-logs"), c.path("volume-plugins"))
	if err := os.WriteFile(c.path("kubelet.yaml"), []byte(config), 0o644); err != nil {
		return err
	}
	if err := c.start("kubelet", c.bins["kubelet"], "--config", c.path("kubelet.yaml"),
		"--kubeconfig", c.path("kubelet.kubeconfig"), "--root-dir", kubeletDir, "--cert-dir", c.path("kubelet-pki"),
		"--node-ip", nodeIP, "--hostname-override", nodeName); err != nil {
		return err
	}
	if err := c.start("kube-controller-manager", c.bins["kube-controller-manager"],
		"--kubeconfig", c.path("controller-manager.kubeconfig"), "--leader-elect=false",
		"--bind-address=127.0.0.1", "--use-service-account-credentials",
		"--service-account-private-key-file="+c.path("pki", "sa.key"), "--root-ca-file="+c.path("pki", "ca.crt"),
		"--cluster-signing-cert-file="+c.path("pki", "ca.crt"), "--cluster-signing-key-file="+c.path("pki", "ca.key")); err != nil {
		return err
	}
	if err := c.start("kube-scheduler", c.bins["kube-scheduler"],
		"--kubeconfig", c.path("scheduler.kubeconfig"), "--leader-elect=false", "--bind-address=127.0.0.1"); err != nil {
		return err
	}
	if err := waitFor(120*time.Second, "node Ready", func() error {
		var node corev1.Node
		if err := c.client.Get(context.Background(), client.ObjectKey{Name: nodeName}, &node); err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s is not Ready: %v", nodeName, node.Status.Conditions)
	}); err != nil {
		return err
	}
	// Pods need the default ServiceAccount, which the controller-manager creates.
	return waitFor(60*time.Second, "default ServiceAccount", func() error {
		var sa corev1.ServiceAccount
		return c.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "default"}, &sa)
	})
}

// kubectl runs kubectl inside the cluster's network namespace as the admin.
func (c *cluster) kubectl(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", c.ns.name, c.bins["kubectl"], "--kubeconfig", c.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *cluster) dumpLogs() {
	for _, d := range c.procs {
		data, err := os.ReadFile(d.log)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		c.t.Logf("--- last lines of %s ---\n%s", d.name, strings.Join(lines, "\n"))
	}
}

// stop ends a daemon: SIGTERM, then SIGKILL after grace.
func (d *daemon) stop(grace time.Duration) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(grace):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func (c *cluster) daemon(name string) *daemon {
	for _, d := range c.procs {
		if d.name == name {
			return d
		}
	}
	return nil
}

// teardown stops everything the suite started, by PID, removes the containers, the cgroups and the
// network namespace. It runs even when the test failed half-way.
func (c *cluster) teardown() {
	start := time.Now()
	step := func(name string) {
		c.t.Logf("tear-down: %s done at %.1fs", name, time.Since(start).Seconds())
	}
	if c.t.Failed() {
		c.dumpLogs()
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kubelet"} {
		if d := c.daemon(name); d != nil {
			d.stop(10 * time.Second)
		}
	}
	step("kubelet, controller-manager, scheduler")
	if d := c.daemon("containerd"); d != nil {
		c.removeContainers()
		step("containers")
		d.stop(10 * time.Second)
	}
	c.killCgroupProcesses()
	step("containerd")
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if d := c.daemon(name); d != nil {
			d.stop(10 * time.Second)
		}
	}
	for _, d := range c.procs {
		d.stop(5 * time.Second)
	}
	c.killMountNamespace()
	if c.holder != nil && c.holder.Process != nil {
		_ = c.holder.Process.Kill()
		_ = c.holder.Wait()
	}
	step("all processes")
	c.removeCgroups()
	step("cgroups")
	if _, err := os.Stat(c.ns.path); err == nil {
		if err := run("ip", "netns", "del", c.ns.name); err != nil {
			c.t.Errorf("tear-down: %v", err)
		}
	}
	// The CNI result cache of containerd 1.6 lives in /var/lib/cni; remove this network's entries.
	if files, _ := filepath.Glob("/var/lib/cni/results/" + c.cniName + "-*"); len(files) > 0 {
		for _, f := range files {
			_ = os.Remove(f)
		}
	}
	c.t.Logf("FIGURE teardown %.1f", time.Since(start).Seconds())
}

// removeContainers kills every container process (they live in the kubelet's cgroups), then
// deletes every task and container from the suite's containerd.
func (c *cluster) removeContainers() {
	c.killCgroupProcesses()
	out, err := c.ctrOutput("tasks", "ls", "-q")
	if err != nil {
		c.t.Logf("tear-down: ctr tasks ls: %v", err)
	}
	for id := range strings.FieldsSeq(out) {
		// A task whose processes were killed may already be gone: "not found" is done.
		if err := c.ctr("tasks", "delete", "--force", id); err != nil && !strings.Contains(err.Error(), "not found") {
			c.t.Logf("tear-down: %v", err)
		}
	}
	out, _ = c.ctrOutput("containers", "ls", "-q")
	for id := range strings.FieldsSeq(out) {
		_ = c.ctr("containers", "delete", id)
	}
}

// cgroupDirs lists the suite's cgroup directories in one hierarchy, deepest first.
func (c *cluster) cgroupDirs(h string) []string {
	var dirs []string
	_ = filepath.WalkDir(filepath.Join(h, c.cgroupRoot), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	return dirs
}

// killCgroupProcesses kills what is left in the kubelet's cgroups: containers the kubelet started.
func (c *cluster) killCgroupProcesses() {
	for _, h := range cgroupHierarchies() {
		for _, d := range c.cgroupDirs(h) {
			data, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for f := range strings.FieldsSeq(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
}

func (c *cluster) removeCgroups() {
	for _, h := range cgroupHierarchies() {
		for _, d := range c.cgroupDirs(h) {
			err := waitFor(10*time.Second, "rmdir "+d, func() error {
				if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
					return err
				}
				return nil
			})
			if err != nil {
				c.t.Errorf("tear-down: %v", err)
			}
		}
	}
}

// killMountNamespace kills any process left in the holder's mount namespace (shims, stray children
// of the daemons): all were started by this suite.
func (c *cluster) killMountNamespace() {
	if c.holderMnt == "" {
		return
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == c.holder.Process.Pid {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && ns == c.holderMnt {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
