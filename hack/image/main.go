// Command image builds an OCI image of one Go command without a container engine, with the content
// the Dockerfile gives the operator: a static binary (CGO_ENABLED=0, -trimpath), the CA roots at
// /etc/ssl/certs/ca-certificates.crt, /etc/passwd and /etc/group naming user and group 65532
// "nonroot", and a config that runs the binary as 65532:65532.
//
// It writes an image index with one image per platform as an OCI image layout in a tar file, which
// `ctr -n k8s.io images import` loads (ggcr's docker-archive tarball holds a single platform only).
// The build is reproducible: file times and the image's creation time are SOURCE_DATE_EPOCH (by
// default the commit time of HEAD), tar entries are sorted with fixed owners, and the Go build id is
// empty, so two builds of one commit give the same digest.
//
//	go run ./hack/image -pkg ./cmd -binary statsig-operator -ref localhost/statsig-operator:dev \
//	    -out bin/statsig-operator-image.tar
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nonroot is the user and group the image runs as, the one distroless images call nonroot.
const nonroot = 65532

// The annotations under which an OCI layout names an image: the OCI one, and containerd's, which
// `ctr images import` uses as the image name.
const (
	annotationRefName         = "org.opencontainers.image.ref.name"
	annotationContainerdImage = "io.containerd.image.name"
)

type options struct {
	pkg, binary, ref, out, caRoots string
	platforms                      []v1.Platform
	epoch                          time.Time
	ldflags                        string
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	caRoots, err := os.ReadFile(o.caRoots)
	if err != nil {
		return fmt.Errorf("-ca-roots: %w (install the ca-certificates package or point the flag at a PEM bundle)", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		bin := filepath.Join(tmp, p.OS+"-"+p.Architecture, o.binary)
		if err := goBuild(o, p, bin); err != nil {
			return err
		}
		img, err := platformImage(o, p, bin, caRoots)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", p.OS, p.Architecture, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return writeOCITar(o, idx, filepath.Join(tmp, "layout"))
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.StringVar(&o.pkg, "pkg", "./cmd", "Go package of the command to package.")
	fs.StringVar(&o.binary, "binary", "statsig-operator", "File name of the binary in the image's root; the entrypoint.")
	fs.StringVar(&o.ref, "ref", "", "Image reference the tarball names the image by, e.g. localhost/statsig-operator:dev (required).")
	fs.StringVar(&o.out, "out", "", "Tar file to write (required).")
	fs.StringVar(&o.caRoots, "ca-roots", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle copied to /etc/ssl/certs/ca-certificates.crt.")
	fs.StringVar(&o.ldflags, "ldflags", "", "Extra -ldflags for go build (e.g. -X for a version).")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "Comma-separated OS/ARCH list.")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time used for every timestamp (default: $SOURCE_DATE_EPOCH, else the commit time of HEAD).")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if o.ref == "" {
		errs = append(errs, errors.New("-ref is required"))
	}
	if o.out == "" {
		errs = append(errs, errors.New("-out is required"))
	}
	if o.binary == "" || strings.Contains(o.binary, "/") {
		errs = append(errs, fmt.Errorf("-binary %q: want a file name without slashes", o.binary))
	}
	for p := range strings.SplitSeq(*platforms, ",") {
		osName, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || osName == "" || arch == "" {
			errs = append(errs, fmt.Errorf("-platforms: %q is not OS/ARCH", p))
			continue
		}
		o.platforms = append(o.platforms, v1.Platform{OS: osName, Architecture: arch})
	}
	if *epoch == "" {
		out, err := exec.Command("git", "log", "-1", "--format=%ct").Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("-source-date-epoch not set and the commit time is unknown: %w", err))
		}
		*epoch = strings.TrimSpace(string(out))
	}
	if *epoch != "" {
		secs, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil || secs < 0 {
			errs = append(errs, fmt.Errorf("-source-date-epoch %q: want seconds since 1970", *epoch))
		}
		o.epoch = time.Unix(secs, 0).UTC()
	}
	return o, errors.Join(errs...)
}

// goBuild builds a static binary with no build id and no local paths, so its bytes depend only on
// the sources, the Go version and the platform.
func goBuild(o options, p v1.Platform, out string) error {
	ldflags := strings.TrimSpace("-s -w -buildid= " + o.ldflags)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags="+ldflags, "-o", out, o.pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOFLAGS=-buildvcs=true")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w", o.pkg, p.OS, p.Architecture, err)
	}
	return nil
}

func platformImage(o options, p v1.Platform, bin string, caRoots []byte) (v1.Image, error) {
	binData, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	layerTar, err := rootFS(o.epoch, []file{
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", nonroot)},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil,
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, nonroot)},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: caRoots},
		{name: o.binary, mode: 0o755, data: binData},
	})
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: o.epoch}, CreatedBy: "hack/image: go build " + o.pkg, Comment: "static binary, CA roots, nonroot user",
	}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: o.epoch}
	cfg.Config.User = fmt.Sprintf("%d:%d", nonroot, nonroot)
	cfg.Config.Entrypoint = []string{"/" + o.binary}
	cfg.Config.WorkingDir = "/"
	return mutate.ConfigFile(img, cfg)
}

type file struct {
	name string
	mode int64
	data []byte
}

// rootFS is a tar of files and their parent directories, sorted, owned by root, all dated epoch.
func rootFS(epoch time.Time, files []file) ([]byte, error) {
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	var entries []entry
	for d := range dirs {
		entries = append(entries, entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}})
	}
	for _, f := range files {
		entries = append(entries, entry{hdr: &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data))}, data: f.data})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.hdr.Name, b.hdr.Name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		e.hdr.ModTime, e.hdr.Format = epoch, tar.FormatPAX
		e.hdr.Uname, e.hdr.Gname = "root", "root"
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeOCITar writes idx as an OCI image layout named o.ref, then packs the layout into o.out
// (sorted entries, fixed times) through a temporary file, and prints the digest and sizes.
func writeOCITar(o options, idx v1.ImageIndex, dir string) error {
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		annotationRefName: o.ref, annotationContainerdImage: o.ref,
	})); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	tmp := o.out + ".tmp"
	if err := tarDir(dir, tmp, o.epoch); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, o.out); err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	st, err := os.Stat(o.out)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s index %s tarball %d bytes\n", o.out, o.ref, digest, st.Size())
	mf, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range mf.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		size, err := imageSize(img)
		if err != nil {
			return err
		}
		fmt.Printf("  %s/%s %s %d bytes compressed\n", d.Platform.OS, d.Platform.Architecture, d.Digest, size)
	}
	return nil
}

// imageSize is the manifest, config and compressed layers of an image: what a node pulls.
func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

func tarDir(dir, out string, epoch time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(names)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, p := range names {
		if err := addToTar(tw, dir, p, epoch); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func addToTar(tw *tar.Writer, dir, p string, epoch time.Time) error {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return err
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: epoch, Format: tar.FormatPAX}
	if st.IsDir() {
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		return tw.WriteHeader(hdr)
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, err = io.Copy(tw, f)
	return err
}
