package dev.lancet.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.lancet.actors.cluster.ClusterNode;
import dev.lancet.actors.cluster.ClusterSolver;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.prune.PruneMethod;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.Schedule;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.jobs.JobProgress;
import dev.lancet.jobs.PruneJob;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three members on loopback (a coordinator and two workers, each its own actor system on its own port, speaking
 * protobuf over Artery) prune tiny-llama: the weights equal those of the same job in one JVM, also when a worker
 * member leaves in the middle of a shot and its shards move to the other one.
 */
class ClusterPruneTest {

    @TempDir
    Path tmp;

    @TempDir
    static Path shared;

    /** The same job in one JVM: what every cluster run must give, byte for byte. */
    private static byte[] oneJvm;

    @BeforeAll
    static void pruneInOneJvm() throws Exception {
        Path local = shared.resolve("local");
        PruneJob.run(spec(local), JobProgress.NONE);
        oneJvm = Files.readAllBytes(local.resolve("model.safetensors"));
    }

    private final List<ClusterNode> nodes = new ArrayList<>();

    @AfterEach
    void stopNodes() {
        nodes.forEach(ClusterNode::close);
    }

    private static PruneJob.Spec spec(Path out) throws IOException {
        Path eval = out.resolveSibling(out.getFileName() + "-eval.txt");
        Files.writeString(eval, Files.readString(Fixtures.validText()).substring(0, 6_000));
        return new PruneJob.Spec(Fixtures.tinyLlama(), PruneSettings.defaults(PruneMethod.SURGEON, Structure.ROWS_COLS),
                null, 0.3, 2, Schedule.LINEAR, List.of(Fixtures.calibrationText()), 8, 64,
                CalibrationSource.Sampling.RANDOM, 5, eval, 64, 8, 8, out, false, 2, PruneJob.Export.SHRUNK, null, null);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** Test timings: answers resent after 2 s, an unreachable member downed after 3 s stable. */
    private static final Config TEST = ConfigFactory.parseString("""
            lancet.cluster.resend-after = 2s
            pekko.cluster.split-brain-resolver.stable-after = 3s
            pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
            """);

    private static Path clusterFile() {
        return Fixtures.repoRoot().resolve("conf/cluster.conf");
    }

    private ClusterNode member(int port, String role, List<String> seeds) {
        ClusterNode node = ClusterNode.start(TEST.withFallback(ClusterNode.config(clusterFile(), port, List.of(role),
                seeds)));
        nodes.add(node);
        return node;
    }

    @Test
    void threeMembersPruneToTheWeightsOfOneJvm() throws Exception {
        int seed = freePort();
        List<String> seeds = List.of("pekko://" + ClusterNode.SYSTEM + "@127.0.0.1:" + seed);
        member(seed, ClusterNode.WORKER_ROLE, seeds);
        member(0, ClusterNode.WORKER_ROLE, seeds);
        ClusterNode coordinator = member(0, ClusterNode.COORDINATOR_ROLE, seeds);
        assertTrue(coordinator.awaitWorkers(2, Duration.ofSeconds(60)), "two workers joined");

        Path clustered = tmp.resolve("cluster");
        PruneJob.run(spec(clustered), JobProgress.NONE, new ClusterSolver(coordinator));
        assertArrayEquals(oneJvm, Files.readAllBytes(clustered.resolve("model.safetensors")));
    }

    /**
     * The second worker is a `lancet node` process, killed with SIGKILL once the first unit of the first shot has
     * been applied: the other members down it, its shards move to the first worker, which rebuilds its units from
     * the shot's files when the coordinator asks again.
     */
    @Test
    void aWorkerMemberKilledMidShotLosesNothing() throws Exception {
        int seed = freePort();
        List<String> seeds = List.of("pekko://" + ClusterNode.SYSTEM + "@127.0.0.1:" + seed);
        member(seed, ClusterNode.WORKER_ROLE, seeds);
        ClusterNode coordinator = member(0, ClusterNode.COORDINATOR_ROLE, seeds);
        try (LancetProcess victim = LancetProcess.node(clusterFile(), freePort(), seeds.get(0), tmp.resolve("node.log"))) {
            assertTrue(coordinator.awaitWorkers(2, Duration.ofSeconds(60)), "two workers joined");
            Path out = tmp.resolve("cluster");
            AtomicBoolean killed = new AtomicBoolean();
            CompletableFuture<Void> killer = CompletableFuture.runAsync(() -> {
                try {
                    long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
                    while (!firstUnitApplied(out) && System.nanoTime() < deadline) {
                        Thread.sleep(20);
                    }
                    victim.kill9();
                    killed.set(true);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            PruneJob.run(spec(out), JobProgress.NONE, new ClusterSolver(coordinator));
            killer.get();
            assertTrue(killed.get());
            assertEquals(1, coordinator.workersUp(), "the killed member was downed");
            assertArrayEquals(oneJvm, Files.readAllBytes(out.resolve("model.safetensors")));
        }
    }

    private static boolean firstUnitApplied(Path out) {
        Path work = out.resolve(".tmp-shot-1-1");
        if (!Files.isDirectory(work)) {
            return false;
        }
        try (Stream<Path> files = Files.list(work)) {
            return files.anyMatch(f -> f.getFileName().toString().startsWith("unit-"));
        } catch (IOException e) {
            return false; // the attempt's directory went away in between
        }
    }
}
