package dev.lancet.actors.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.actors.TestKits;
import dev.lancet.engine.prune.PruneUnit;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.proto.ShotFiles;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The shot's budget against a sort of all costs: units here are plain arrays of element costs (the coordinator sees
 * nothing else), and every removal counts one weight.
 */
class PruneCoordinatorTest {

    private static final ActorTestKit testKit = TestKits.serializing();

    @AfterAll
    static void tearDown() {
        testKit.shutdownTestKit();
    }

    /** A unit of element costs; applying records the threshold, and may be made to fail. */
    private static final class Costs implements PruneUnit {
        private final int block;
        private final double[] costs;
        private final boolean failOnApply;
        double applied = Double.NaN;
        final AtomicInteger applies = new AtomicInteger();

        Costs(int block, double[] costs, boolean failOnApply) {
            this.block = block;
            this.costs = costs;
            this.failOnApply = failOnApply;
        }

        @Override
        public long count(double tau) {
            return Arrays.stream(costs).filter(c -> c <= tau).count();
        }

        @Override
        public UnitReport apply(double tau) {
            if (failOnApply) {
                throw new IllegalStateException("injected failure");
            }
            applied = tau;
            applies.incrementAndGet();
            return UnitReport.dense(block, List.of(new UnitReport.LayerRemoval("layer" + block, 0, 0, count(tau))));
        }

        @Override
        public void close() {
        }
    }

    private static PruneCoordinator.Solved solve(List<Costs> units, int workers, long target) {
        PruneWorker.UnitSource open = (shot, unit) -> units.get(unit);
        var coordinator = testKit.spawn(PruneCoordinator.create(units.size(), PruneCoordinator.Workers.local(workers,
                open, DispatcherSelector.defaultDispatcher()), ShotFiles.getDefaultInstance(), null));
        TestProbe<PruneCoordinator.Solved> reply = testKit.createTestProbe();
        coordinator.tell(new PruneCoordinator.Solve(target, reply.getRef()));
        return reply.receiveMessage(Duration.ofSeconds(30));
    }

    /**
     * Forwards to a real worker, but loses every other question and passes the rest twice: what a cluster whose
     * members come and go may do to messages.
     */
    private static Behavior<PruneWorker.Command> unreliable(PruneWorker.UnitSource source) {
        return Behaviors.setup(context -> {
            ActorRef<PruneWorker.Command> worker = context.spawn(PruneWorker.create(source), "real");
            AtomicInteger received = new AtomicInteger();
            return Behaviors.receiveMessage(m -> {
                if (received.incrementAndGet() % 2 == 1) {
                    worker.tell(m);
                    worker.tell(m);
                }
                return Behaviors.same();
            });
        });
    }

    @Test
    void lostAndDuplicatedQuestionsAreAskedAgainAndAnsweredOnce() {
        List<Costs> units = randomUnits(3);
        PruneCoordinator.Solved reliable = solve(units, 3, 300);
        List<Costs> again = randomUnits(3);
        PruneWorker.UnitSource open = (shot, unit) -> again.get(unit);
        PruneCoordinator.Workers lossy = (context, count) -> java.util.stream.IntStream.range(0, 3)
                .<RecipientRef<PruneWorker.Command>>mapToObj(w -> context.spawn(unreliable(open), "lossy-" + w))
                .toList();
        var coordinator = testKit.spawn(PruneCoordinator.create(again.size(), lossy, ShotFiles.getDefaultInstance(),
                Duration.ofMillis(100)));
        TestProbe<PruneCoordinator.Solved> reply = testKit.createTestProbe();
        coordinator.tell(new PruneCoordinator.Solve(300, reply.getRef()));
        PruneCoordinator.Solved solved = reply.receiveMessage(Duration.ofSeconds(30));
        assertFalse(solved.failed(), solved.failure());
        assertEquals(reliable.threshold(), solved.threshold());
        assertEquals(reliable.units(), solved.units());
        // each unit removed its weights once, however often it was asked
        again.forEach(u -> assertEquals(1, u.applies.get(), "unit " + u.block));
    }

    private static List<Costs> randomUnits(long seed) {
        Random random = new Random(seed);
        return java.util.stream.IntStream.range(0, 7).mapToObj(u -> {
            double scale = Math.pow(10, random.nextInt(9) - 6); // layers differ by orders of magnitude
            return new Costs(u, random.doubles(50 + random.nextInt(200)).map(c -> c * scale).toArray(), false);
        }).toList();
    }

    @Test
    void thresholdEqualsTheSortOfAllCostsWhateverTheNumberOfWorkers() {
        List<Costs> units = randomUnits(1);
        double[] all = units.stream().flatMapToDouble(u -> Arrays.stream(u.costs)).sorted().toArray();
        for (long target : new long[] {1, 17, all.length / 2, all.length - 1}) {
            // a sort removes the target smallest costs: τ lies between the target-th and the next (costs are distinct)
            double lowest = all[(int) target - 1];
            double next = all[(int) target];
            for (int workers : new int[] {1, 2, 3, 7}) {
                PruneCoordinator.Solved solved = solve(units, workers, target);
                assertFalse(solved.failed(), solved.failure());
                String what = "target " + target + ", " + workers + " workers";
                assertTrue(lowest <= solved.threshold() && solved.threshold() < next, what + ": " + solved.threshold());
                for (UnitReport r : solved.units()) {
                    assertEquals(units.get(r.block()).count(lowest), r.layers().get(0).weights(), what);
                }
                assertEquals(List.of(0, 1, 2, 3, 4, 5, 6), solved.units().stream().map(UnitReport::block).toList());
            }
        }
        PruneCoordinator.Solved everything = solve(units, 2, all.length + 10L);
        assertTrue(everything.threshold() >= all[all.length - 1]);
        assertEquals(all.length, everything.units().stream().mapToLong(r -> r.layers().get(0).weights()).sum());
    }

    @Test
    void aLayerWhoseCostsAreAllTinyGivesUpMoreThanItsShare() {
        Random random = new Random(2);
        Costs cheap = new Costs(0, random.doubles(100).map(c -> 1e-6 * c).toArray(), false);
        Costs dear = new Costs(1, random.doubles(100).map(c -> 1.0 + c).toArray(), false);
        PruneCoordinator.Solved solved = solve(List.of(cheap, dear), 2, 120);
        assertEquals(100, solved.units().get(0).layers().get(0).weights());
        assertEquals(20, solved.units().get(1).layers().get(0).weights());
    }

    @Test
    void aTargetTheCoordinatorCannotMeetFailsTheShotWithAnAnswer() {
        PruneCoordinator.Solved solved = solve(List.of(new Costs(0, new double[] {1, 2}, false)), 1, -5);
        assertTrue(solved.failed());
        assertTrue(solved.failure().contains("coordinator failed"), solved.failure());
    }

    @Test
    void aWorkerThatFailsFailsTheShot() {
        List<Costs> units = List.of(new Costs(0, new double[] {1, 2}, false), new Costs(1, new double[] {3}, true));
        PruneCoordinator.Solved solved = solve(units, 2, 2);
        assertTrue(solved.failed());
        assertTrue(solved.failure().contains("injected failure"), solved.failure());
    }
}
