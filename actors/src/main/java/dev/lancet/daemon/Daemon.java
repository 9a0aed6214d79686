package dev.lancet.daemon;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.lancet.jobs.JobSpec;
import dev.lancet.jobs.LocalSolver;
import dev.lancet.jobs.PruneJob;
import dev.lancet.jobs.ShotSolver;
import dev.lancet.proto.daemon.PruneRequest;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorSystem;
import org.bytedeco.javacpp.Pointer;

/**
 * The pruning daemon: a Pekko actor system holding the job queue, and the gRPC server in front of it. Started on a
 * state directory, it first queues again what a stopped daemon left unfinished; closed, it stops taking calls and
 * leaves running jobs as they are on disk, to be resumed by the next start.
 */
public final class Daemon implements AutoCloseable {

    /** How a request becomes a job's spec, with {@code lancet prune}'s own checks. */
    @FunctionalInterface
    public interface SpecFactory {
        JobSpec spec(PruneRequest request, BiFunction<String, String, Path> resolve, Path defaultOut);
    }

    /**
     * @param tokenFile a file holding the bearer token every call must carry; null for none (loopback only)
     * @param tlsCert   certificate chain (PEM) to serve TLS with, with tlsKey; null for plaintext
     */
    public record Options(String host, int port, Path state, List<Path> roots, Path tokenFile, Path tlsCert,
                          Path tlsKey) {
        public Options {
            roots = List.copyOf(roots);
            if ((tlsCert == null) != (tlsKey == null)) {
                throw new IllegalArgumentException("--tls-cert and --tls-key go together");
            }
        }
    }

    private final Server server;
    private final ActorSystem<JobQueue.Command> system;
    private final ExecutorService jobThreads;
    private final ScheduledExecutorService ticker;
    private final int resumed;

    private Daemon(Server server, ActorSystem<JobQueue.Command> system, ExecutorService jobThreads,
                   ScheduledExecutorService ticker, int resumed) {
        this.server = server;
        this.system = system;
        this.jobThreads = jobThreads;
        this.ticker = ticker;
        this.resumed = resumed;
    }

    /** Starts the daemon with the lancet.daemon.* limits of {@code config}; jobs solve their shots in its JVM. */
    public static Daemon start(Options options, Config config, SpecFactory specs) throws IOException {
        return start(options, config, specs, spec -> new LocalSolver(spec.workers()));
    }

    /** Starts the daemon; {@code solvers} says where each job solves its shots (e.g. on a cluster). */
    public static Daemon start(Options options, Config config, SpecFactory specs,
                               Function<PruneJob.Spec, ShotSolver> solvers) throws IOException {
        InetAddress address = InetAddress.getByName(options.host());
        if (!address.isLoopbackAddress() && options.tokenFile() == null) {
            throw new IllegalArgumentException("listening on " + options.host() + ", beyond this machine, needs "
                    + "--token-file");
        }
        BearerToken token = options.tokenFile() == null ? null : BearerToken.fromFile(options.tokenFile());
        PathGuard guard = new PathGuard(options.roots());
        JobStore store = JobStore.open(options.state());
        CurvatureStore curvature = new CurvatureStore(options.state());
        Config limits = config.getConfig("lancet.daemon");
        long budget = limits.getBytes("memory-budget");
        JobQueue.Limits queueLimits = new JobQueue.Limits(limits.getInt("queue-size"), limits.getInt("concurrent-jobs"),
                budget > 0 ? budget : Pointer.maxPhysicalBytes());
        ExecutorService jobThreads = Executors.newFixedThreadPool(queueLimits.concurrentJobs(), daemonThreads("lancet-job"));
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(daemonThreads("lancet-poll"));
        DaemonService service = new DaemonService(guard, store, curvature, specs, queueLimits.memoryBudget(),
                limits.getInt("pending-add-data"), ticker);
        int unfinished = (int) store.load().stream().filter(j -> !DaemonService.ended(j.status().getState())).count();
        // the daemon's own shutdown hook stops the system, after the server and before the jobs (see close)
        Config systemConfig = ConfigFactory.parseString("pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off")
                .withFallback(config);
        ActorSystem<JobQueue.Command> system = ActorSystem.create(
                JobQueue.create(store, queueLimits, jobThreads, service, solvers), "lancet-daemon", systemConfig);
        service.attach(system, system.scheduler());
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(address, options.port()))
                .addService(token == null ? ServerInterceptors.intercept(service)
                        : ServerInterceptors.intercept(service, token));
        if (options.tlsCert() != null) {
            builder.useTransportSecurity(options.tlsCert().toFile(), options.tlsKey().toFile());
        }
        Server server = builder.build().start();
        return new Daemon(server, system, jobThreads, ticker, unfinished);
    }

    private static ThreadFactory daemonThreads(String name) {
        return runnable -> {
            Thread t = new Thread(runnable, name);
            t.setDaemon(true);
            return t;
        };
    }

    public int port() {
        return server.getPort();
    }

    /** Jobs a stopped daemon left queued or running, queued again at start. */
    public int unfinishedAtStart() {
        return resumed;
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    /**
     * Stops taking calls, then the actor system (so a job interrupted now is not recorded as failed: it stays
     * running on disk and resumes at the next start), then the jobs' threads.
     */
    @Override
    public void close() throws InterruptedException {
        server.shutdown();
        if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
            server.shutdownNow();
        }
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().join();
        ticker.shutdownNow();
        jobThreads.shutdownNow();
        jobThreads.awaitTermination(30, TimeUnit.SECONDS);
    }
}
