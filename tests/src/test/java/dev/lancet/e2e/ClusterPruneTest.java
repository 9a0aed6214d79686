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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three members on loopback (a coordinator and two workers, each its own actor system on its own port, speaking
 * protobuf over Artery) prune tiny-llama, calibrating on the workers' layer entities and solving on their prune
 * workers: the weights equal those of the same job in one JVM, also when a worker member dies in the middle of a
 * shot's calibration or of its solve and its shards move to the other one.
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
                CalibrationSource.Sampling.RANDOM, 5, eval, 64, 8, 1, out, false, 2, PruneJob.Export.SHRUNK, null, null);
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
        ClusterNode first = member(seed, ClusterNode.WORKER_ROLE, seeds);
        ClusterNode second = member(0, ClusterNode.WORKER_ROLE, seeds);
        ClusterNode coordinator = member(0, ClusterNode.COORDINATOR_ROLE, seeds);
        assertTrue(coordinator.awaitWorkers(2, Duration.ofSeconds(60)), "two workers joined");

        Path clustered = tmp.resolve("cluster");
        PruneJob.run(spec(clustered), JobProgress.NONE, new ClusterSolver(coordinator));
        assertArrayEquals(oneJvm, Files.readAllBytes(clustered.resolve("model.safetensors")));
        // every block of both shots' calibrations folded on a worker member, some on each
        assertEquals(0, coordinator.layerEntitiesStarted());
        assertEquals(2 * BLOCKS, first.layerEntitiesStarted() + second.layerEntitiesStarted());
        assertTrue(first.layerEntitiesStarted() > 0 && second.layerEntitiesStarted() > 0);
    }

    /**
     * The second worker is a `lancet node` process, killed with SIGKILL once the first unit of the first shot has
     * been applied: the other members down it, its shards move to the first worker, which rebuilds its units from
     * the shot's files when the coordinator asks again.
     */
    @Test
    void aWorkerMemberKilledMidShotLosesNothing() throws Exception {
        killAWorkerMidJob((out, survivor) -> firstUnitApplied(out));
    }

    /**
     * As above, killed while a shot calibrates (its first batch folded by every block) and the victim hosts some of its
     * layer entities: they are started again on the surviving worker (woken by the coordinator), restore from the
     * curvature actor's last snapshot (none here: they start empty) and fold the replayed batches, in batch order, to
     * the same sums. Sharding may put all of the first shot's blocks on the in-JVM worker (the other member's region
     * registers a little later), so the kill waits for the first shot whose blocks it spread over both.
     */
    @Test
    void aWorkerMemberKilledMidCalibrationLosesNothing() throws Exception {
        AtomicInteger calibrating = new AtomicInteger(); // the shot calibrating now, past its first batch; 0: none
        Pattern calibration = Pattern.compile("shot (\\d+)/2 calibration.*");
        JobProgress progress = (phase, done, total) -> {
            Matcher shot = calibration.matcher(phase);
            if (shot.matches()) {
                calibrating.set(done >= 1 && done < total ? Integer.parseInt(shot.group(1)) : 0);
            }
        };
        // every block of the shot has started (it folded a batch); those not on the survivor are on the victim
        ClusterNode survivor = killAWorkerMidJob(progress, (out, node) -> calibrating.get() > 0
                && node.layerEntitiesStarted() < calibrating.get() * BLOCKS);
        // the survivor started every block of both shots, the victim's of the killed shot moved to it
        assertTrue(survivor.layerEntitiesStarted() >= 2 * BLOCKS, "the killed member's layer entities moved");
    }

    /** Blocks of tiny-llama: layer entities per calibration. */
    private static final int BLOCKS = 4;

    @FunctionalInterface
    private interface KillPoint {
        /** Whether the job writing to {@code out} is where the victim is to be killed (survivor: the other worker). */
        boolean reached(Path out, ClusterNode survivor);
    }

    private ClusterNode killAWorkerMidJob(KillPoint killPoint) throws Exception {
        return killAWorkerMidJob(JobProgress.NONE, killPoint);
    }

    /**
     * Runs the job on a coordinator, an in-JVM worker and a `lancet node` worker process, killed with SIGKILL at
     * {@code killPoint} (which must come before the job ends); checks the killed member was downed and the weights are
     * those of one JVM. Returns the surviving worker.
     */
    private ClusterNode killAWorkerMidJob(JobProgress progress, KillPoint killPoint) throws Exception {
        int seed = freePort();
        List<String> seeds = List.of("pekko://" + ClusterNode.SYSTEM + "@127.0.0.1:" + seed);
        ClusterNode survivor = member(seed, ClusterNode.WORKER_ROLE, seeds);
        ClusterNode coordinator = member(0, ClusterNode.COORDINATOR_ROLE, seeds);
        try (LancetProcess victim = LancetProcess.node(clusterFile(), freePort(), seeds.get(0), tmp.resolve("node.log"))) {
            assertTrue(coordinator.awaitWorkers(2, Duration.ofSeconds(60)), "two workers joined");
            Path out = tmp.resolve("cluster");
            AtomicBoolean killed = new AtomicBoolean();
            AtomicBoolean ended = new AtomicBoolean();
            CompletableFuture<Void> killer = CompletableFuture.runAsync(() -> {
                try {
                    while (!ended.get()) {
                        if (killPoint.reached(out, survivor)) {
                            victim.kill9();
                            killed.set(true);
                            return;
                        }
                        Thread.sleep(20);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            try {
                PruneJob.run(spec(out), progress, new ClusterSolver(coordinator));
            } finally {
                ended.set(true);
            }
            killer.get();
            assertTrue(killed.get(), "the job reached the kill point");
            assertEquals(1, coordinator.workersUp(), "the killed member was downed");
            assertArrayEquals(oneJvm, Files.readAllBytes(out.resolve("model.safetensors")));
        }
        return survivor;
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
