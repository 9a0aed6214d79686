package dev.lancet.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.lancet.actors.cluster.ClusterNode;
import dev.lancet.actors.cluster.ClusterSolver;
import dev.lancet.daemon.Daemon;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.jobs.LocalSolver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code lancet daemon}: the pruning service, until SIGTERM. */
@Command(name = "daemon", mixinStandardHelpOptions = true,
        description = "Run the pruning daemon: a gRPC service (driven by `lancet client`) that queues pruning jobs, "
                + "keeps each model's curvature up to date as calibration data is added, and re-prunes on demand. "
                + "Jobs and data live under --state and survive a crash: a restart resumes every job from its last "
                + "completed shot. Prints one line when ready; stops cleanly on SIGTERM.")
final class DaemonCommand implements Callable<Integer> {

    @Option(names = "--listen", paramLabel = "HOST:PORT", description = "Address to serve on (default: ${DEFAULT-VALUE}; "
            + "port 0 picks a free one). Beyond loopback, --token-file is required.")
    String listen = "127.0.0.1:7011";

    @Option(names = "--state", paramLabel = "DIR", description = "Jobs, data and curvature state (default: ${DEFAULT-VALUE}).")
    Path state = Path.of("lancet-state");

    @Option(names = "--root", paramLabel = "DIR", description = "Directory the paths of requests must lie under, after "
            + "links and '..' are resolved; repeatable (default: the working directory).")
    List<Path> roots = new ArrayList<>();

    @Option(names = "--token-file", paramLabel = "FILE", description = "File holding the bearer token every call must carry.")
    Path tokenFile;

    @Option(names = "--tls-cert", paramLabel = "PEM", description = "Certificate chain to serve TLS with (with --tls-key).")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "Private key (PKCS#8 PEM) of --tls-cert.")
    Path tlsKey;

    @Option(names = "--config", paramLabel = "FILE", description = "HOCON overriding conf/application.conf (e.g. "
            + "lancet.daemon.concurrent-jobs, lancet.prune.workers).")
    Path config;

    @Mixin
    ClusterOptions cluster;

    @Override
    public Integer call() throws Exception {
        Config settings = settings();
        HostPort address = HostPort.parse("--listen", listen);
        Daemon.Options options = new Daemon.Options(address.host(), address.port(), state,
                roots.isEmpty() ? List.of(Path.of("")) : roots, tokenFile, tlsCert, tlsKey);
        // with --cluster, the daemon is a coordinator member: its jobs' workers run on the worker members
        ClusterNode node = cluster.enabled() ? cluster.start(ClusterNode.COORDINATOR_ROLE, 0) : null;
        Daemon daemon;
        try {
            daemon = Daemon.start(options, settings,
                    (request, resolve, defaultOut) -> PruneOptions.specOf(request, resolve, defaultOut),
                    spec -> node != null ? new ClusterSolver(node) : new LocalSolver(spec.workers()));
        } catch (RuntimeException | IOException e) {
            if (node != null) {
                node.close();
            }
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                daemon.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                if (node != null) {
                    node.close();
                }
                stopped.countDown();
            }
        }, "lancet-daemon-stop"));
        System.out.println("lancet daemon ready on " + address.host() + ":" + daemon.port() + " (state " + state
                + ", " + daemon.unfinishedAtStart() + " unfinished jobs resumed)");
        System.out.flush();
        daemon.awaitTermination();
        stopped.await();
        return 0;
    }

    /**
     * conf/application.conf under the --config file. Its knobs are set as system properties, which every part of
     * Lancet reads its configuration through (ConfigFactory.load), so they reach the jobs too.
     */
    private Config settings() {
        if (config != null) {
            if (!Files.isRegularFile(config)) {
                throw new CheckpointException(config, "config file not found");
            }
            ConfigFactory.parseFile(config.toFile()).resolve().entrySet().forEach(e ->
                    System.setProperty(e.getKey(), e.getValue().unwrapped().toString()));
            ConfigFactory.invalidateCaches();
        }
        return ConfigFactory.load();
    }
}
