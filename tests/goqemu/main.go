// goqemu-check: drives a QMP socket with Debian's go-qemu library
// (golang-github-digitalocean-go-qemu-dev), as existing Go tooling does,
// and prints "ok NAME" or "FAIL NAME: why" per check; exits 1 on a failure.
// The machine must be started with -S -name tiny -device virtio-balloon.
//
// Build (offline, Debian's GOPATH):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o goqemu-check ./tests/goqemu
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/digitalocean/go-qemu/qemu"
	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"
)

var failed bool

func check(name string, ok bool, why string, args ...interface{}) {
	if ok {
		fmt.Printf("ok %s\n", name)
		return
	}
	failed = true
	fmt.Printf("FAIL %s: %s\n", name, fmt.Sprintf(why, args...))
}

func noErr(name string, err error) bool {
	check(name, err == nil, "%v", err)
	return err == nil
}

// waitEvent waits for the named event on ch for up to 10 s.
func waitEvent(ch chan qmp.Event, name string) bool {
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.Event == name {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goqemu-check QMP-SOCKET")
		os.Exit(2)
	}
	mon, err := qmp.NewSocketMonitor("unix", os.Args[1], 5*time.Second)
	if err == nil {
		err = mon.Connect()
	}
	if !noErr("connect and negotiate", err) {
		os.Exit(1)
	}
	v := mon.Version
	check("greeting: the QEMU version memvm speaks", v != nil && v.QEMU.Major == 7 && v.QEMU.Minor == 2,
		"%+v", v)
	d, err := qemu.NewDomain(mon, "tiny")
	if !noErr("qemu.NewDomain", err) {
		os.Exit(1)
	}
	defer d.Close()
	stream, done, err := d.Events()
	if !noErr("Events()", err) {
		os.Exit(1)
	}
	defer close(done)
	// go-qemu hands events over unbuffered and stalls replies until they
	// are taken: take them at once, keep them for waitEvent.
	events := make(chan qmp.Event, 256)
	go func() {
		for e := range stream {
			events <- e
		}
	}()

	st, err := d.Status()
	if noErr("Status()", err) {
		check("Status() under -S is prelaunch", st == qemu.StatusPreLaunch, "%v", st)
	}
	pci, err := d.PCIDevices()
	if noErr("PCIDevices()", err) {
		check("PCIDevices(): none", len(pci) == 0, "%v", pci)
	}
	bd, err := d.BlockDevices()
	if noErr("BlockDevices()", err) {
		check("BlockDevices(): none", len(bd) == 0, "%v", bd)
	}
	bj, err := d.BlockJobs()
	if noErr("BlockJobs()", err) {
		check("BlockJobs(): none", len(bj) == 0, "%v", bj)
	}
	bs, err := d.BlockStats()
	if noErr("BlockStats()", err) {
		check("BlockStats(): none", len(bs) == 0, "%v", bs)
	}
	ver, err := d.Version()
	if noErr("Version()", err) {
		check("Version() is 7.2.0", ver == "7.2.0", "%q", ver)
	}
	pkg, err := d.PackageVersion()
	if noErr("PackageVersion()", err) {
		check("PackageVersion() names memvm", strings.HasPrefix(pkg, "memvm-"), "%q", pkg)
	}
	cmds, err := d.Commands()
	if noErr("Commands()", err) {
		has := map[string]bool{}
		for _, c := range cmds {
			has[c] = true
		}
		check("Commands() lists query-name and system_powerdown",
			has["query-name"] && has["system_powerdown"], "%v", cmds)
	}

	rm := raw.NewMonitor(mon)
	n, err := rm.QueryName()
	if noErr("raw.QueryName()", err) {
		check("raw.QueryName() is -name's", n.Name != nil && *n.Name == "tiny", "%+v", n)
	}
	u, err := rm.QueryUUID()
	if noErr("raw.QueryUUID()", err) {
		check("raw.QueryUUID(): the all-zero UUID without -uuid",
			u.UUID == "00000000-0000-0000-0000-000000000000", "%+v", u)
	}
	b, err := rm.QueryBalloon()
	if noErr("raw.QueryBalloon()", err) {
		check("raw.QueryBalloon(): the whole RAM", b.Actual == 128<<20, "%+v", b)
	}

	// Never-sent statistics are 2^64-1: only an unsigned field holds them.
	out, err := d.Run(qmp.Command{Execute: "qom-get", Args: map[string]string{
		"path": "/machine/peripheral-anon/device[0]", "property": "guest-stats"}})
	if noErr("qom-get guest-stats", err) {
		var r struct {
			Return struct {
				Stats map[string]uint64 `json:"stats"`
			} `json:"return"`
		}
		err = json.Unmarshal(out, &r)
		if noErr("guest-stats decode as uint64", err) {
			check("guest-stats: unknown is 2^64-1",
				len(r.Return.Stats) > 0 && r.Return.Stats["stat-free-memory"] == math.MaxUint64,
				"%v", r.Return.Stats)
		}
	}

	_, err = d.Run(qmp.Command{Execute: "cont"})
	if noErr("cont", err) {
		st, err = d.Status()
		check("Status() after cont is running", err == nil && st == qemu.StatusRunning, "%v %v",
			st, err)
	}
	if noErr("SystemReset()", d.SystemReset()) {
		check("SystemReset(): RESET event", waitEvent(events, "RESET"), "no RESET event")
	}
	if noErr("SystemPowerdown()", d.SystemPowerdown()) {
		check("SystemPowerdown(): POWERDOWN event", waitEvent(events, "POWERDOWN"),
			"no POWERDOWN event")
	}
	if failed {
		os.Exit(1)
	}
}
