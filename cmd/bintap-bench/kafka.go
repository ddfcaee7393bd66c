package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// bintapKafka returns the measurement of the bintap binary streaming the
// workload to a Kafka broker: kfake, in this process, on a TCP port. The
// broker discards record bytes (BlackholeProduce) so that its memory does
// not grow with the workload; offsets still advance, which is how the
// delivered messages are counted. The broker shares the CPUs with bintap:
// the run reports bintap's CPU time and the broker's (this process's CPU
// time while bintap runs, which is kfake's, as the harness only waits).
// extra are more bintap flags (-kafka-flags). gogc is this process's GOGC
// during the run (-broker-gogc): kfake allocates a buffer for each produce
// request, and with this process's live heap of about 1 MB Go's default
// (100) collects garbage every 4 MB, some 220 times per run of 578 MB.
func bintapKafka(binary, state string, extra []string, gogc int) func(ctx context.Context, w *workload) result {
	run := 0
	return func(ctx context.Context, w *workload) result {
		run++
		if why := bintapMissing(binary); why != "" {
			return result{unavailable: why}
		}
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.BlackholeProduce())
		if err != nil {
			return result{err: fmt.Errorf("start kfake: %w", err)}
		}
		defer cluster.Close()
		addr := cluster.ListenAddrs()[0]
		flags := append([]string{
			"--start", "oldest",
			"--stop-at-end",
			"--output", "kafka://" + addr + "/bench",
			"--heartbeat-interval", "0"}, extra...)
		cmd, err := bintapCommand(ctx, binary, w.port, 4244, filepath.Join(w.tmpDir, state), flags...)
		if err != nil {
			return result{err: err}
		}
		// BINTAP_BENCH_CPUPROFILE=PATH: bintap's profile of run N goes to
		// PATH.k.N (row k0: PATH.k0.N), the broker's (this process's) to
		// PATH.k.N.broker.
		prof := os.Getenv("BINTAP_BENCH_CPUPROFILE")
		if prof != "" {
			prof += fmt.Sprintf(".k%s.%d", strings.TrimPrefix(state, "state-kafka"), run)
			cmd.Env = append(os.Environ(), "BINTAP_CPUPROFILE="+prof)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stopProfile, err := profileSelf(prof)
		if err != nil {
			return result{err: err}
		}
		if gogc != 100 {
			defer debug.SetGCPercent(debug.SetGCPercent(gogc))
		}
		self := selfCPU()
		start := time.Now()
		err = cmd.Run()
		elapsed := time.Since(start)
		broker := selfCPU() - self
		stopProfile()
		if err != nil {
			return result{err: fmt.Errorf("bintap stream: %w", err), detail: stderr.String()}
		}
		n, err := endOffsets(ctx, addr, "bench")
		if err != nil {
			return result{err: err, detail: stderr.String()}
		}
		if n < int64(w.rows) {
			return result{err: fmt.Errorf("Kafka holds %d messages, want at least %d", n, w.rows), detail: stderr.String()}
		}
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return result{rows: int64(w.rows), elapsed: elapsed, cpu: cpu, brokerCPU: broker, brokerGOGC: gogc, rss: peakRSS(cmd)}
	}
}

// profileSelf starts a CPU profile of this process (the broker's side)
// into path+".broker" when path is set; the returned function stops it.
func profileSelf(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path + ".broker")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// selfCPU is the user and system CPU time of this process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// endOffsets sums the high watermarks of topic's partitions.
func endOffsets(ctx context.Context, addr, topic string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	var n int64
	for _, o := range listed.Offsets().Sorted() {
		n += o.At
	}
	if err := listed.Error(); err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	return n, nil
}
